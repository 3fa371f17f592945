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

}  // namespace

const char* blame(Errc code) {
  switch (code) {
    case Errc::environment:
    case Errc::permission_denied:
    case Errc::io:        // an include dir that is missing or not writable
    case Errc::conflict:  // a file of the operator's where ours should go
      return "environment";
    case Errc::invalid_input:  // the manifest cannot be rendered for this server
    case Errc::not_found:      // a unit the inventory names does not exist
      return "manifest";
    default:
      return "mitigation";
  }
}

std::chrono::seconds backoff(const std::string& cause, int attempts) {
  // The environment is usually fixed by hand within minutes (and a fix is seen at once through
  // the file watches): look again often. A mitigation's own failure backs off further.
  long base = cause == "environment" ? 5 : 15;
  long cap = cause == "environment" ? 60 : 900;
  long secs = base << std::min(std::max(attempts, 1) - 1, 10);
  return std::chrono::seconds(std::min(secs, cap));
}

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

std::string run_probes(Prober& prober, Clock& clock, const std::string& url, const Manifest& m,
                       const std::set<int>& blocked_statuses, std::chrono::milliseconds window) {
  auto end = clock.steady() + window;
  std::string problem;
  for (;;) {
    problem = probe_once(prober, url, m, blocked_statuses);
    if (problem.empty() || clock.steady() >= end) return problem;
    clock.sleep_for(std::chrono::milliseconds(15));
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

  // `replaced`: reconcilers whose put of the new revision replaces the old one in one step.
  void revert(const std::vector<const Step*>& steps, const std::vector<state::LedgerRecord>& ledger,
              const std::set<Reconciler*>& replaced, const Decision* decision) {
    if (steps.empty()) return;
    const std::string& id = steps.front()->mitigation_id;
    std::vector<state::LedgerRecord> rows;
    for (const Step* s : steps) {
      for (const auto& r : ledger) {
        if (r.row == s->ledger_row) rows.push_back(r);
      }
    }
    if (rows.empty()) return;
    for (const auto& r : rows) ctx_.store.ledger_set_phase(r.row, "reverting");
    reach(ctx_.checkpoint, "revert: rows marked reverting");
    for (const auto& r : rows) {
      if (!reconciler_for_resource(r.resource)) {
        return record_failure("revert", id, r.revision, make_error(Errc::internal, "no reconciler knows resource " + r.resource));
      }
    }
    // Undo in the reverse of the order put() uses (an app pool's unit is started again before its
    // vdirs stop answering 503).
    for (auto rec = ctx_.reconcilers.rbegin(); rec != ctx_.reconcilers.rend(); ++rec) {
      std::vector<state::LedgerRecord> group;
      for (const auto& r : rows) {
        if (reconciler_for_resource(r.resource) == *rec) group.push_back(r);
      }
      if (group.empty() || replaced.contains(*rec)) continue;
      // Rows stay (phase reverting) on failure: the next attempt retries; nothing is forgotten.
      if (auto r = (*rec)->undo(group); !r) return record_failure("revert", id, group.front().revision, r.error());
    }
    reach(ctx_.checkpoint, "revert: system restored, rows not yet removed");
    for (const auto& r : rows) {
      ctx_.store.ledger_remove(r.row);
      reach(ctx_.checkpoint, "revert: one row removed");
    }
    int attempts = clear_failure(id);
    json::object detail;
    detail["reason"] = steps.front()->reason;
    if (attempts > 0) detail["after_failed_attempts"] = attempts;
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
    Recorded recorded;
    // 1. Record before change.
    if (auto r = record_rows(m, steps, recorded); !r) return fail(m, recorded.new_rows, {}, r.error());
    // 2. Change the system, reconciler by reconciler, in order of their first action. A put that
    // fails halfway filled its undo value as it went: it is rolled back with the others.
    std::vector<std::pair<Reconciler*, Undo>> done;
    std::map<Reconciler*, std::string> applied_state;
    for (Reconciler* rec : put_order(m, steps)) {
      std::vector<std::size_t> in_force;
      for (std::size_t i : d.active_actions) {
        if (rec->handles(m.actions[i].kind)) in_force.push_back(i);
      }
      done.emplace_back(rec, Undo{});
      auto r = rec->put(m, recorded.touched[rec], in_force, done.back().second);
      if (!r) return fail(m, recorded.new_rows, done, r.error());
      applied_state[rec] = *r;
      reach(ctx_.checkpoint, "apply: reconciler put done");
    }
    // 3. Probes at the real listener.
    bool probed = std::any_of(done.begin(), done.end(), [](const auto& p) { return p.first->probed(); });
    if (probed && ctx_.prober && ctx_.inventory.web_server && !m.probes.empty()) {
      std::string problem = run_probes(*ctx_.prober, ctx_.clock, ctx_.inventory.web_server->probe_url, m, ctx_.blocking_statuses, ctx_.probe_window);
      if (!problem.empty()) return fail(m, recorded.new_rows, done, make_error(Errc::probe_failed, "probe failed: " + problem));
    }
    reach(ctx_.checkpoint, "apply: probes passed, not committed");
    commit(m, recorded.new_rows, applied_state);
    report_put(m, steps, recorded);
  }

 private:
  struct Recorded {
    std::vector<std::int64_t> new_rows;
    std::map<Reconciler*, std::vector<std::size_t>> touched;
    bool any_repair = false;
    int earlier_failures = 0;
  };

  Result<void> record_rows(const Manifest& m, const std::vector<const Step*>& steps, Recorded& out) {
    for (const Step* s : steps) {
      std::size_t idx = static_cast<std::size_t>(s->action_index);
      const Action& a = m.actions[idx];
      bool handled = false;
      for (Reconciler* rec : ctx_.reconcilers) {
        if (!rec->handles(a.kind)) continue;
        handled = true;
        out.touched[rec].push_back(idx);
        if (s->op == Step::Op::repair) {
          out.any_repair = true;
          // A repair completes what is recorded. A part of the action with no row yet (the run
          // that recorded the others was killed before reaching it) is recorded now, before
          // anything changes, or the change would never be undone.
          if (find_row(m.id, static_cast<int>(idx), rec->resource(m, idx))) continue;
        }
        auto prior = rec->prior_state(m, idx);
        if (!prior) return prior.error();
        state::LedgerRecord row;
        row.mitigation_id = m.id;
        row.revision = m.revision;
        row.action_index = static_cast<int>(idx);
        row.kind = to_string(a.kind);
        row.resource = rec->resource(m, idx);
        row.prior_state = *prior;
        row.run_id = ctx_.run_id;
        if (auto existing = find_row(m.id, row.action_index, row.resource)) {
          out.new_rows.push_back(*existing);  // left by an interrupted run: keep its prior state
        } else {
          out.new_rows.push_back(ctx_.store.ledger_record(row));
          reach(ctx_.checkpoint, "apply: ledger row recorded");
        }
      }
      if (!handled) return make_error(Errc::invalid_input, std::string("no reconciler for ") + to_string(a.kind) + " on this host");
    }
    return {};
  }

  std::vector<Reconciler*> put_order(const Manifest& m, const std::vector<const Step*>& steps) const {
    std::vector<Reconciler*> order;
    for (const Step* s : steps) {
      for (Reconciler* rec : ctx_.reconcilers) {
        if (rec->handles(m.actions[static_cast<std::size_t>(s->action_index)].kind) &&
            std::find(order.begin(), order.end(), rec) == order.end()) {
          order.push_back(rec);
        }
      }
    }
    return order;
  }

  void commit(const Manifest& m, const std::vector<std::int64_t>& new_rows, const std::map<Reconciler*, std::string>& applied_state) {
    ctx_.store.transaction([&] {
      for (auto row : new_rows) ctx_.store.ledger_set_phase(row, "applied");
      for (const auto& r : ctx_.store.ledger()) {
        if (r.mitigation_id != m.id) continue;
        if (r.phase != "applied") ctx_.store.ledger_set_phase(r.row, "applied");
        for (const auto& [rec, st] : applied_state) {
          if (r.resource.starts_with(rec->name() + ":")) ctx_.store.ledger_set_applied_state(r.row, st);
        }
      }
    });
    reach(ctx_.checkpoint, "apply: committed, not audited");
  }

  void report_put(const Manifest& m, const std::vector<const Step*>& steps, const Recorded& recorded) {
    int earlier = clear_failure(m.id);
    json::object detail;
    detail["title"] = m.title;
    detail["actions"] = steps.size();
    detail["probes"] = m.probes.size();
    if (earlier > 0) detail["after_failed_attempts"] = earlier;
    std::string after = earlier > 0 ? " (after " + std::to_string(earlier) + " failed attempt(s))" : "";
    bool only_repairs = std::all_of(steps.begin(), steps.end(), [](const Step* s) { return s->op == Step::Op::repair; });
    if (only_repairs || (recorded.any_repair && recorded.new_rows.empty())) {
      audit("drift_repaired", m.id, m.revision, "repaired " + m.id + ": " + steps.front()->reason + after, detail);
      out_.lines.push_back("~ " + m.id + " repaired: " + steps.front()->reason + after);
      ++out_.repaired;
      return;
    }
    audit("applied", m.id, m.revision,
          "applied " + m.id + " revision " + std::to_string(m.revision) + ": " + m.title +
              (m.probes.empty() ? "" : " (" + std::to_string(m.probes.size()) + " probes passed)") + after,
          detail);
    out_.lines.push_back("+ " + m.id + " applied" +
                         (m.probes.empty() ? "" : ", " + std::to_string(m.probes.size()) + " probes passed") + after);
    ++out_.applied;
  }

  std::optional<std::int64_t> find_row(const std::string& id, int index, const std::string& resource) {
    for (const auto& r : ctx_.store.ledger()) {
      if (r.mitigation_id == id && r.action_index == index && r.resource == resource) return r.row;
    }
    return std::nullopt;
  }

  std::optional<state::FailureRow> failure_of(const std::string& id) {
    for (auto& f : ctx_.store.failures()) {
      if (f.mitigation_id == id) return f;
    }
    return std::nullopt;
  }

  // Clears the failure streak of id; returns how many attempts it had.
  int clear_failure(const std::string& id) {
    auto previous = failure_of(id);
    if (!previous) return 0;
    ctx_.store.failure_clear(id);
    return previous->attempts;
  }

  void fail(const Manifest& m, const std::vector<std::int64_t>& new_rows,
            const std::vector<std::pair<Reconciler*, Undo>>& done, const Error& error) {
    std::string rollback_problem;
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      if (auto r = it->first->rollback(it->second); !r) {
        rollback_problem += "; rollback by " + it->first->name() + " failed: " + r.error().message;
      }
    }
    // A change that could not be rolled back keeps its rows: the ledger still knows how to undo it.
    if (rollback_problem.empty()) {
      for (auto row : new_rows) ctx_.store.ledger_remove(row);
    }
    Error e = error;
    e.message += rollback_problem;
    record_failure("apply", m.id, m.revision, e);
  }

  // One audit record per change of state (a new streak, or another cause), not per attempt: the
  // failure row counts the attempts.
  void record_failure(const std::string& op, const std::string& id, std::int64_t revision, const Error& error) {
    std::string cause = blame(error.code);
    auto previous = failure_of(id);
    bool same_streak = previous && previous->op == op && previous->revision == revision && previous->cause == cause;
    state::FailureRow row;
    row.mitigation_id = id;
    row.revision = revision;
    row.attempts = same_streak ? previous->attempts + 1 : 1;
    SysSeconds next = ctx_.clock.wall() + backoff(cause, row.attempts);
    row.retry_after = next.time_since_epoch().count();
    row.permanent = cause == "manifest";
    row.reason = error.message;
    row.op = op;
    row.cause = cause;
    row.inputs_digest = ctx_.inputs_digest;
    if (same_streak) row.since = previous->since;
    ctx_.store.failure_record(row);
    std::string what = op == "revert" ? "revert failed"
                       : cause == "environment" ? "cannot be applied now (the server, not the mitigation)"
                                                : "failed and was undone";
    std::string when = row.permanent ? "retried when the manifest, the inventory or the web server config changes"
                                     : "next attempt at " + format_utc(next) + " or as soon as an input changes";
    std::string line = "! " + id + " " + what + ": " + error.message + " [attempt " + std::to_string(row.attempts) +
                       "; " + when + "; `mitigctl retry " + id + "` retries now]";
    out_.lines.push_back(line);
    if (cause == "environment") ++out_.waiting;
    else ++out_.failed;
    if (same_streak) return;
    json::object detail{{"error", to_string(error.code)}, {"cause", cause}, {"op", op}, {"permanent", row.permanent},
                        {"next_attempt", row.permanent ? std::string() : format_utc(next)}};
    std::string event = op == "revert" ? "revert_failed" : cause == "environment" ? "waiting" : "failed";
    audit(event, id, revision, line.substr(2), detail);
  }

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
    // A reconciler that rewrites the old revision's resource in its put is not undone first.
    std::set<Reconciler*> replaced;
    if (d && d->want == Want::present && mf != manifests.end() && !puts.empty()) {
      for (std::size_t i : d->active_actions) {
        for (Reconciler* r : ctx.reconcilers) {
          if (r->replaces_on_put() && r->handles(mf->second->actions[i].kind)) replaced.insert(r);
        }
      }
    }
    applier.revert(reverts, ledger, replaced, d);
    if (!puts.empty() && d && mf != manifests.end()) applier.put(*mf->second, *d, puts);
  }
  return outcome;
}

}  // namespace mitigd
