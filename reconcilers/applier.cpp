#include "reconcilers/applier.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <set>
#include <thread>

namespace mitigd {
namespace json = boost::json;

ObservedState observe_all(const std::vector<Reconciler*>& reconcilers, const std::vector<state::LedgerRecord>& ledger,
                          const std::map<std::string, const Manifest*>& manifests) {
  ObservedState out;
  for (Reconciler* r : reconcilers) r->observe(ledger, manifests, out);
  return out;
}

namespace {

std::string probe_once(Prober& prober, const std::string& url, const Manifest& m, const std::set<int>& blocked_statuses) {
  for (const Probe& p : m.probes) {
    auto r = prober.send(url, p.request);
    std::string what = p.request.method + " " + p.request.target;
    if (!r) return what + ": " + r.error().message;
    bool blocked = r->dropped || blocked_statuses.contains(r->status);
    std::string got = r->dropped ? "connection dropped" : "status " + std::to_string(r->status);
    if (p.expect == Probe::Expect::blocked && !blocked) return what + " should be blocked but got " + got;
    if (p.expect == Probe::Expect::passed) {
      if (blocked) return what + " should pass but got " + got;
      if (r->status == 502 || r->status == 504) return what + " should reach the application but got " + got;
    }
  }
  return {};
}

std::chrono::seconds backoff(int attempts) {
  long secs = 30L << std::min(attempts - 1, 7);
  return std::chrono::seconds(std::min(secs, 3600L));
}

}  // namespace

std::set<int> blocking_statuses(const std::map<std::string, const Manifest*>& manifests) {
  std::set<int> s{403, 444};
  for (const auto& [id, m] : manifests) {
    for (const Action& a : m->actions) {
      if (const auto* rule = std::get_if<RewriteRule>(&a.detail)) s.insert(rule->respond.status);
      if (const auto* v = std::get_if<DisableVdir>(&a.detail)) s.insert(v->status);
      if (const auto* p = std::get_if<DisableAppPool>(&a.detail)) s.insert(p->status);
    }
  }
  return s;
}

std::string run_probes(Prober& prober, const std::string& url, const Manifest& m, const std::set<int>& blocked_statuses,
                       std::chrono::milliseconds window) {
  auto end = std::chrono::steady_clock::now() + window;
  std::string problem;
  for (;;) {
    problem = probe_once(prober, url, m, blocked_statuses);
    if (problem.empty() || std::chrono::steady_clock::now() >= end) return problem;
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
}

namespace {

class MitigationApplier {
 public:
  MitigationApplier(ApplyContext& ctx, ApplyOutcome& outcome) : ctx_(ctx), out_(outcome) {}

  void audit(const std::string& event, const std::string& id, std::int64_t revision, const std::string& message,
             json::object detail = {}) {
    ctx_.store.audit_append({"", event, id, revision, ctx_.run_id, ctx_.actor, message, json::serialize(detail)});
  }

  Reconciler* reconciler_for_resource(const std::string& resource) {
    for (Reconciler* r : ctx_.reconcilers) {
      if (resource.starts_with(r->name() + ":")) return r;
    }
    return nullptr;
  }

  void revert(const std::vector<const Step*>& steps, const std::vector<state::LedgerRecord>& ledger,
              bool keeps_web_actions, const Decision* decision) {
    if (steps.empty()) return;
    const std::string& id = steps.front()->mitigation_id;
    std::vector<state::LedgerRecord> rows;
    for (const Step* s : steps) {
      for (const auto& r : ledger) {
        if (r.row == s->ledger_row) rows.push_back(r);
      }
    }
    for (const auto& r : rows) ctx_.store.ledger_set_phase(r.row, "reverting");
    reach(ctx_.checkpoint, "revert: rows marked reverting");
    // Group by reconciler; undo in the reverse of the order put() uses (an app pool's unit is
    // started again before its vdirs stop answering 503).
    for (const auto& r : rows) {
      if (!reconciler_for_resource(r.resource)) {
        audit("revert_failed", id, r.revision, "no reconciler knows resource " + r.resource);
        ++out_.failed;
        return;
      }
    }
    std::vector<std::pair<Reconciler*, std::vector<state::LedgerRecord>>> by;
    for (auto rec = ctx_.reconcilers.rbegin(); rec != ctx_.reconcilers.rend(); ++rec) {
      std::vector<state::LedgerRecord> group;
      for (const auto& r : rows) {
        if (reconciler_for_resource(r.resource) == *rec) group.push_back(r);
      }
      if (!group.empty()) by.emplace_back(*rec, std::move(group));
    }
    for (auto& [rec, group] : by) {
      // A newer revision's file replaces the old one in one reload: no unprotected window.
      if (rec->name() == "web" && keeps_web_actions) continue;
      if (auto r = rec->undo(group); !r) {
        audit("revert_failed", id, group.front().revision, r.error().message);
        out_.lines.push_back("! " + id + ": revert failed: " + r.error().message);
        ++out_.failed;
        return;  // rows stay (phase reverting): the next run retries; nothing is forgotten
      }
    }
    reach(ctx_.checkpoint, "revert: system restored, rows not yet removed");
    for (const auto& r : rows) {
      ctx_.store.ledger_remove(r.row);
      reach(ctx_.checkpoint, "revert: one row removed");
    }
    json::object detail;
    detail["reason"] = steps.front()->reason;
    std::string event = "reverted";
    if (decision) {
      detail["status"] = to_string(decision->status);
      if (!decision->superseded_by.empty()) detail["superseded_by"] = decision->superseded_by;
      if (decision->status == Status::superseded) event = "superseded";
    }
    audit(event, id, rows.front().revision, "reverted " + id + ": " + steps.front()->reason, detail);
    out_.lines.push_back("- " + id + " reverted: " + steps.front()->reason);
    ++out_.reverted;
  }

  void put(const Manifest& m, const Decision& d, const std::vector<const Step*>& steps) {
    if (steps.empty()) return;
    auto now = ctx_.now();
    // 1. Record before change.
    std::vector<std::int64_t> new_rows, repaired_rows;
    std::map<Reconciler*, std::vector<std::size_t>> touched;
    bool any_repair = false;
    for (const Step* s : steps) {
      std::size_t idx = static_cast<std::size_t>(s->action_index);
      const Action& a = m.actions[idx];
      bool handled = false;
      for (Reconciler* rec : ctx_.reconcilers) {
        if (!rec->handles(a.kind)) continue;
        handled = true;
        touched[rec].push_back(idx);
        if (s->op == Step::Op::repair) {
          any_repair = true;
          // A repair completes what is recorded. A part of the action with no row yet (the run
          // that recorded the others was killed before reaching it) is recorded now, before
          // anything changes, or the change would never be undone.
          if (find_row(m.id, static_cast<int>(idx), rec->resource(m, idx))) continue;
        }
        auto prior = rec->prior_state(m, idx);
        if (!prior) return fail(m, new_rows, {}, prior.error(), now);
        state::LedgerRecord row;
        row.mitigation_id = m.id;
        row.revision = m.revision;
        row.action_index = static_cast<int>(idx);
        row.kind = to_string(a.kind);
        row.resource = rec->resource(m, idx);
        row.prior_state = *prior;
        row.run_id = ctx_.run_id;
        if (auto existing = find_row(m.id, row.action_index, row.resource)) {
          new_rows.push_back(*existing);  // left by an interrupted run: keep its prior state
        } else {
          new_rows.push_back(ctx_.store.ledger_record(row));
          reach(ctx_.checkpoint, "apply: ledger row recorded");
        }
      }
      if (!handled) {
        return fail(m, new_rows, {},
                    make_error(Errc::unavailable, std::string("no reconciler for ") + to_string(a.kind) + " on this host"),
                    now);
      }
    }
    // 2. Change the system, reconciler by reconciler, in order of their first action.
    std::vector<Reconciler*> order;
    for (const Step* s : steps) {
      for (Reconciler* rec : ctx_.reconcilers) {
        if (rec->handles(m.actions[static_cast<std::size_t>(s->action_index)].kind) &&
            std::find(order.begin(), order.end(), rec) == order.end()) {
          order.push_back(rec);
        }
      }
    }
    std::vector<Reconciler*> done;
    std::map<Reconciler*, std::string> applied_state;
    for (Reconciler* rec : order) {
      std::vector<std::size_t> in_force;
      for (std::size_t i : d.active_actions) {
        if (rec->handles(m.actions[i].kind)) in_force.push_back(i);
      }
      auto r = rec->put(m, touched[rec], in_force);
      if (!r) {
        // A put that fails halfway may have changed part of what it was given: it is undone
        // first, then the reconcilers that had finished, in reverse.
        done.push_back(rec);
        return fail(m, new_rows, done, r.error(), now);
      }
      applied_state[rec] = *r;
      done.push_back(rec);
      reach(ctx_.checkpoint, "apply: reconciler put done");
    }
    // 3. Probes at the real listener.
    bool web_touched = std::any_of(done.begin(), done.end(), [](Reconciler* r) { return r->name() == "web"; });
    if (web_touched && ctx_.prober && ctx_.inventory.web_server && !m.probes.empty()) {
      std::string problem = run_probes(*ctx_.prober, ctx_.inventory.web_server->probe_url, m, ctx_.blocking_statuses, ctx_.probe_window);
      if (!problem.empty()) return fail(m, new_rows, done, make_error(Errc::probe_failed, "probe failed: " + problem), now);
    }
    reach(ctx_.checkpoint, "apply: probes passed, not committed");
    // 4. Commit.
    ctx_.store.transaction([&] {
      for (auto row : new_rows) ctx_.store.ledger_set_phase(row, "applied");
      for (const auto& r : ctx_.store.ledger()) {
        if (r.mitigation_id != m.id) continue;
        if (r.phase != "applied") ctx_.store.ledger_set_phase(r.row, "applied");
        for (auto& [rec, st] : applied_state) {
          if (r.resource.starts_with(rec->name() + ":")) ctx_.store.ledger_set_applied_state(r.row, st);
        }
      }
      ctx_.store.failure_clear(m.id);
    });
    reach(ctx_.checkpoint, "apply: committed, not audited");
    json::object detail;
    detail["title"] = m.title;
    detail["actions"] = steps.size();
    detail["probes"] = m.probes.size();
    bool only_repairs = std::all_of(steps.begin(), steps.end(), [](const Step* s) { return s->op == Step::Op::repair; });
    if (only_repairs || (any_repair && new_rows.empty())) {
      audit("drift_repaired", m.id, m.revision, "repaired " + m.id + ": " + steps.front()->reason, detail);
      out_.lines.push_back("~ " + m.id + " repaired: " + steps.front()->reason);
      ++out_.repaired;
    } else {
      audit("applied", m.id, m.revision,
            "applied " + m.id + " revision " + std::to_string(m.revision) + ": " + m.title +
                (m.probes.empty() ? "" : " (" + std::to_string(m.probes.size()) + " probes passed)"),
            detail);
      out_.lines.push_back("+ " + m.id + " applied" +
                           (m.probes.empty() ? "" : ", " + std::to_string(m.probes.size()) + " probes passed"));
      ++out_.applied;
    }
  }

  std::optional<std::int64_t> find_row(const std::string& id, int index, const std::string& resource) {
    for (const auto& r : ctx_.store.ledger()) {
      if (r.mitigation_id == id && r.action_index == index && r.resource == resource) return r.row;
    }
    return std::nullopt;
  }

  void fail(const Manifest& m, const std::vector<std::int64_t>& new_rows, const std::vector<Reconciler*>& done,
            const Error& error, SysSeconds now) {
    std::string rollback_problem;
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      if (auto r = (*it)->rollback(m.id); !r) rollback_problem += " rollback by " + (*it)->name() + " failed: " + r.error().message;
    }
    if (rollback_problem.empty()) {
      for (auto row : new_rows) ctx_.store.ledger_remove(row);
    }
    int attempts = 1;
    for (const auto& f : ctx_.store.failures()) {
      if (f.mitigation_id == m.id && f.revision == m.revision) attempts = f.attempts + 1;
    }
    // A config the server refuses, or a manifest that cannot be rendered, fails the same way
    // every time: no retry loop until the manifest or the inventory changes.
    bool permanent = error.code == Errc::validation_failed || error.code == Errc::invalid_input;
    ctx_.store.failure_record({m.id, m.revision, attempts,
                               std::chrono::duration_cast<std::chrono::seconds>((now + backoff(attempts)).time_since_epoch()).count(),
                               permanent, error.message});
    json::object detail;
    detail["error"] = to_string(error.code);
    detail["attempts"] = attempts;
    detail["permanent"] = permanent;
    audit("failed", m.id, m.revision, "apply of " + m.id + " failed and was undone: " + error.message + rollback_problem,
          detail);
    out_.lines.push_back("! " + m.id + " failed and was undone: " + error.message + rollback_problem);
    ++out_.failed;
  }

 private:
  ApplyContext& ctx_;
  ApplyOutcome& out_;
};

}  // namespace

ApplyOutcome apply_plan(const Plan& plan, const std::map<std::string, const Manifest*>& manifests, ApplyContext& ctx) {
  ApplyOutcome outcome;
  ctx.blocking_statuses = blocking_statuses(manifests);
  MitigationApplier applier(ctx, outcome);
  std::vector<state::LedgerRecord> ledger = ctx.store.ledger();

  // Orphans first: files carrying our marker that nothing explains.
  for (const Step& s : plan.steps) {
    if (s.op != Step::Op::remove_orphan) continue;
    for (Reconciler* r : ctx.reconcilers) {
      if (!s.target.starts_with(r->name() + ":")) continue;
      if (auto res = r->remove_orphan(s.target); !res) {
        outcome.lines.push_back("! " + s.target + ": " + res.error().message);
        ++outcome.failed;
      } else {
        applier.audit("orphan_removed", s.mitigation_id, s.revision, "removed " + s.target + ": " + s.reason);
        outcome.lines.push_back("- " + s.target + " removed: " + s.reason);
      }
    }
  }

  std::vector<std::string> ids;
  for (const Step& s : plan.steps) {
    if (s.op != Step::Op::remove_orphan && std::find(ids.begin(), ids.end(), s.mitigation_id) == ids.end()) {
      ids.push_back(s.mitigation_id);
    }
  }
  std::map<std::string, const Decision*> decisions;
  for (const Decision& d : plan.decisions) decisions[d.id] = &d;

  for (const std::string& id : ids) {
    std::vector<const Step*> reverts, puts;
    for (const Step& s : plan.steps) {
      if (s.mitigation_id != id) continue;
      if (s.op == Step::Op::revert) reverts.push_back(&s);
      if (s.op == Step::Op::apply || s.op == Step::Op::repair) puts.push_back(&s);
    }
    const Decision* d = decisions.count(id) ? decisions[id] : nullptr;
    auto mf = manifests.find(id);
    bool keeps_web = false;
    if (d && d->want == Want::present && mf != manifests.end()) {
      for (std::size_t i : d->active_actions) keeps_web = keeps_web || web::is_web_action(mf->second->actions[i].kind);
    }
    applier.revert(reverts, ledger, keeps_web && !puts.empty(), d);
    if (!puts.empty() && d && mf != manifests.end()) applier.put(*mf->second, *d, puts);
  }
  return outcome;
}

}  // namespace mitigd
