#include "daemon/reconcile.hpp"

#include "policies/json_input.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <set>

namespace mitigd {
namespace json = boost::json;

namespace {

void audit(state::Store& store, const std::string& event, const std::string& actor, const std::string& message,
           json::object detail = {}) {
  store.audit_append({"", event, "", 0, "", actor, message, json::serialize(detail)});
}

// A feed problem must not go unnoticed: the audit records when updates start failing (and why),
// when the trusted metadata expires, and when the feed recovers. One record per change of health.
void audit_feed_health(state::Store& store, const feed::FeedStatus& fs, const std::string& actor) {
  std::string health = fs.expired ? "expired" : (fs.online_attempted && !fs.error.empty() ? "failing" : "ok");
  if (!fs.online_attempted && health == "failing") return;
  auto previous = store.fact_get("feed.health").value_or("ok");
  if (health == previous) return;
  std::string event = health == "ok" ? "feed_recovered" : (health == "expired" ? "feed_expired" : "feed_unreachable");
  std::string message = health == "ok" ? "the signed feed verifies again"
                        : health == "expired"
                            ? "the trusted feed metadata expired at " + (fs.expires ? format_utc(*fs.expires) : "?") +
                                  "; the last verified mitigations stay in force"
                            : "feed update failed, the last verified state stays in force: " + fs.error;
  audit(store, event, actor, message);
  store.fact_set("feed.health", health);
}

// Audits what changed in the inputs since the last run: the policy files and the manifest set.
void audit_input_changes(state::Store& store, const Inputs& in, const std::string& actor) {
  std::string manifests_digest;
  for (const auto& h : in.manifests.sha256) manifests_digest += h.substr(0, 16);
  std::string policy_digest;
  for (const auto* f : {&in.policy.org, &in.policy.server}) {
    auto text = json_input::read_file_capped(f->file, 16 * 1024 * 1024);
    policy_digest += std::to_string(std::hash<std::string>{}(text ? *text : std::string())) + ";";
  }
  auto previous_policy = store.fact_get("policy_digest");
  if (previous_policy != policy_digest) {
    if (previous_policy) audit(store, "policy_changed", actor, "the policy files changed");
    store.fact_set("policy_digest", policy_digest);
  }
  auto previous_manifests = store.fact_get("manifests_digest");
  if (previous_manifests != manifests_digest) {
    std::string message = "the manifest set changed: " + std::to_string(in.manifests.manifests.size()) + " manifests";
    if (previous_manifests) audit(store, "feed_changed", actor, message);
    store.fact_set("manifests_digest", manifests_digest);
  }
}

// Policy typos and refused manifests: said on every run, audited once per change of the set.
std::vector<std::string> input_warnings(state::Store& store, const Inputs& in, const std::string& actor) {
  std::vector<std::string> warnings = in.policy.warnings;
  for (const auto& bad : in.manifests.invalid) {
    warnings.push_back("manifest " + bad.id + " refused (" + bad.source + "): " + bad.error +
                       " — every other manifest proceeds");
  }
  for (const auto& note : in.manifests.notes) warnings.push_back("manifest refused: " + note);
  std::string joined;
  for (const auto& w : warnings) joined += w + "\n";
  if (store.fact_get("warnings") != joined) {
    for (const auto& w : warnings) audit(store, "warning", actor, w);
    if (warnings.empty() && store.fact_get("warnings").value_or("").size() > 0) {
      audit(store, "warnings_cleared", actor, "the inputs are free of warnings again");
    }
    store.fact_set("warnings", joined);
  }
  return warnings;
}

void load_inputs(Engine& engine, state::Store& store, const RunRequest& request, RunReport& r) {
  if (request.load_inputs) {
    if (auto loaded = engine.load(&store, request.refresh_feed); !loaded) {
      r.inputs_ok = false;
      r.inputs_error = loaded.error().message;
    }
  }
  if (engine.loaded() && r.inputs_ok) {
    audit_input_changes(store, engine.inputs(), request.actor);
    if (!engine.config().feed) r.feed_last_success = engine.clock().wall().time_since_epoch().count();
  }
  if (const auto& fs = engine.feed_status()) {
    r.feed = *fs;
    if (fs->last_success) r.feed_last_success = fs->last_success->time_since_epoch().count();
    audit_feed_health(store, *fs, request.actor);
  }
}

void summarise(const Plan& plan, state::Store& store, RunReport& r) {
  r.mitigations = mitigation_states(plan, store.ledger());
  for (const auto& m : r.mitigations) {
    ++r.by_state[m.state];
    if (m.next_attempt && (!r.next_retry || *m.next_attempt < *r.next_retry)) r.next_retry = m.next_attempt;
  }
}

}  // namespace

void clear_failures(state::Store& store, const std::vector<std::string>& ids, const std::string& actor) {
  std::vector<std::string> cleared;
  for (const auto& f : store.failures()) {
    if (ids.empty() || std::find(ids.begin(), ids.end(), f.mitigation_id) != ids.end()) cleared.push_back(f.mitigation_id);
  }
  for (const auto& id : cleared) store.failure_clear(id);
  std::string list;
  for (const auto& id : cleared) list += (list.empty() ? "" : ", ") + id;
  audit(store, "retry_requested", actor,
        cleared.empty() ? std::string("retry requested: nothing was failed or waiting")
                        : "retry requested: failure state and backoff cleared for " + list);
}

bool RunReport::converged() const {
  if (!error.empty() || !ran || !outcome.ok()) return false;
  for (const auto& m : mitigations) {
    if (m.not_in_force) return false;
  }
  return true;
}

RunReport reconcile(Engine& engine, state::Store& store, const RunRequest& request) {
  RunReport r;
  r.trigger = request.trigger;
  auto started = std::chrono::steady_clock::now();
  try {
    load_inputs(engine, store, request, r);
    if (engine.loaded()) {
      r.ran = true;
      r.warnings = input_warnings(store, engine.inputs(), request.actor);
      Plan plan = engine.plan(store, engine.clock().wall(), request.revert);
      r.mode = plan.mode;
      r.steps = plan.steps.size();
      if (request.expected_digest && *request.expected_digest != plan.digest) {
        r.error = "stale plan: the server, the ledger or the inputs changed since it was made (saved " +
                  request.expected_digest->substr(0, 12) + ", now " + plan.digest.substr(0, 12) + "); run plan again";
      } else if (!plan.empty() && plan.mode == Mode::enforce) {
        r.run_id = new_run_id();
        store.run_begin({r.run_id, request.trigger, "", "", "", ""});
        r.outcome = engine.apply(plan, store, r.run_id, request.actor);
        store.run_finish(r.run_id, r.outcome.ok() ? "ok" : "failed", plan.digest);
        plan = engine.plan(store, engine.clock().wall(), request.revert);  // states after the change
      }
      summarise(plan, store, r);
    }
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

std::vector<MitigationState> mitigation_states(const Plan& plan, const std::vector<state::LedgerRecord>& ledger) {
  std::set<std::string> held, has_steps;
  for (const auto& l : ledger) held.insert(l.mitigation_id);
  for (const Step& s : plan.steps) {
    if (s.op == Step::Op::apply || s.op == Step::Op::repair) has_steps.insert(s.mitigation_id);
  }
  std::vector<MitigationState> out;
  for (const Decision& d : plan.decisions) {
    MitigationState m;
    m.id = d.id;
    m.revision = d.revision;
    m.state = to_string(d.status);
    m.reason = d.summary;
    if (d.status == Status::applicable) {
      bool applied = held.contains(d.id) && !has_steps.contains(d.id);
      m.state = applied ? "applied" : "pending";
      m.not_in_force = !applied && plan.mode == Mode::enforce;
    }
    if (not_in_force(d)) m.not_in_force = true;
    if (d.retry) {
      m.cause = d.retry->cause;
      m.attempts = d.retry->attempts;
      m.next_attempt = d.retry->at;
    }
    out.push_back(std::move(m));
  }
  return out;
}

json::object mitigation_state_json(const MitigationState& m) {
  json::object o{{"id", m.id},         {"revision", m.revision},         {"state", m.state},
                 {"reason", m.reason}, {"not_in_force", m.not_in_force}, {"attempts", m.attempts}};
  if (!m.cause.empty()) o["cause"] = m.cause;
  if (m.next_attempt) o["next_attempt"] = format_utc(*m.next_attempt);
  return o;
}

json::object run_report_json(const RunReport& r) {
  json::array lines, mitigations, warnings;
  for (const auto& l : r.outcome.lines) lines.push_back(json::string(l));
  for (const auto& m : r.mitigations) mitigations.push_back(mitigation_state_json(m));
  for (const auto& w : r.warnings) warnings.push_back(json::string(w));
  json::object by;
  for (const auto& [s, n] : r.by_state) by[s] = n;
  json::object o{{"ok", r.error.empty() && r.outcome.ok() && r.inputs_ok},
                 {"converged", r.converged()},
                 {"run", r.run_id},
                 {"trigger", r.trigger},
                 {"applied", r.outcome.applied},
                 {"reverted", r.outcome.reverted},
                 {"repaired", r.outcome.repaired},
                 {"failed", r.outcome.failed},
                 {"waiting", r.outcome.waiting},
                 {"lines", lines},
                 {"mitigations", mitigations},
                 {"by_state", by},
                 {"warnings", warnings},
                 {"mode", to_string(r.mode)},
                 {"inputs_ok", r.inputs_ok},
                 {"seconds", r.seconds}};
  if (!r.inputs_ok) o["inputs_error"] = r.inputs_error;
  if (!r.error.empty()) o["error"] = r.error;
  if (r.next_retry) o["next_retry"] = format_utc(*r.next_retry);
  return o;
}

}  // namespace mitigd
