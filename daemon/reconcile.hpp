#pragma once
// The one reconcile: what mitigd runs on every trigger and `mitigctl apply` runs once. Loads the
// inputs (the last good ones stay when they are refused), evaluates the desired state, observes,
// plans, applies exactly that plan (unless the policy says dry-run), audits what changed in the
// inputs and the feed's health, and reports every mitigation's state with the reason and the time
// of its next attempt. It never throws for a failure of the server: that is in the report.
#include "daemon/engine.hpp"

#include <boost/json/object.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mitigd {

struct RunRequest {
  std::string trigger = "manual";  // what asked for it, for the runs table and the logs
  std::string actor = "mitigd";
  bool load_inputs = true;         // false: the engine's inputs were just loaded by the caller
  bool refresh_feed = false;       // online update of the signed feed first
  std::optional<std::string> expected_digest;  // a reviewed plan: refused if the plan differs
  RevertScope revert = RevertScope::none;      // removal: revert what the ledger holds (all, or web)
};

// One mitigation as status, the metrics and `apply` show it. `state` is applied, pending, failed,
// waiting, invalid, or the decision's status (blocked, superseded, ...).
struct MitigationState {
  std::string id;
  std::int64_t revision = 0;
  std::string state;
  std::string reason;
  bool not_in_force = false;  // an applicable mitigation that is not in force, or a revert that failed
  std::string cause;          // of the failure, when there is one
  int attempts = 0;
  std::optional<SysSeconds> next_attempt;
};

struct RunReport {
  std::string run_id;
  std::string trigger;
  bool inputs_ok = true;
  std::string inputs_error;
  bool ran = false;   // inputs were available (now or from before)
  std::string error;  // the reconcile itself failed (state store, stale plan...)
  ApplyOutcome outcome;
  std::size_t steps = 0;
  Mode mode = Mode::enforce;
  std::vector<MitigationState> mitigations;
  std::map<std::string, int> by_state;
  std::optional<SysSeconds> next_retry;  // the earliest next attempt of any mitigation
  std::vector<std::string> warnings;     // policy typos, refused manifests
  std::optional<feed::FeedStatus> feed;
  long feed_last_success = 0;
  double seconds = 0;
  // Everything that should hold does: no error, and no mitigation failed, waiting, pending, invalid.
  bool converged() const;
};

RunReport reconcile(Engine& engine, state::Store& store, const RunRequest& request);

// `mitigctl retry`: forgets the failure state and backoff of these ids (every id when empty), audited.
void clear_failures(state::Store& store, const std::vector<std::string>& ids, const std::string& actor);

// Per-mitigation state from a plan and the ledger (what status, report and the metrics show): an
// applicable mitigation is "applied" when the ledger holds it and the plan has nothing left to do
// for it, else "pending".
std::vector<MitigationState> mitigation_states(const Plan& plan, const std::vector<state::LedgerRecord>& ledger);

// The documented JSON form of a run (docs/formats.md "Run report").
boost::json::object run_report_json(const RunReport& r);
boost::json::object mitigation_state_json(const MitigationState& m);

}  // namespace mitigd
