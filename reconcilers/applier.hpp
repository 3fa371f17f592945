#pragma once
// Executes a plan, mitigation by mitigation, under the rules of DESIGN.md:
//   record before change: a ledger row with the prior state is committed before anything moves;
//   whole or nothing: if a put, a validation, a reload or a probe fails, everything this run did
//   for the mitigation is rolled back, the failure is recorded with backoff and audited;
//   nothing applied is forgotten: a row is removed only after its undo succeeded.
#include "reconcilers/checkpoint.hpp"
#include "reconcilers/clock.hpp"
#include "reconcilers/plan.hpp"
#include "reconcilers/prober.hpp"
#include "reconcilers/reconciler.hpp"
#include "reconcilers/web_rules.hpp"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mitigd {

struct ApplyContext {
  state::Store& store;
  std::vector<Reconciler*> reconcilers;
  const Inventory& inventory;
  Prober* prober = nullptr;  // null: no web server, probes are skipped
  std::string run_id;
  std::string actor;
  Clock& clock;
  std::chrono::milliseconds probe_window{1000};  // retries for an upstream that is slow to answer
  std::set<int> blocking_statuses{403, 444};
  Checkpoint checkpoint;
  std::string inputs_digest;  // recorded with a failure: any later input change retries at once
};

struct ApplyOutcome {
  // failed: blamed on the mitigation (or its manifest); waiting: the environment prevented it.
  int applied = 0, reverted = 0, repaired = 0, failed = 0, waiting = 0;
  std::vector<std::string> lines;  // one per mitigation, for people
  bool ok() const { return failed == 0 && waiting == 0; }
};

// Who is to blame for an error from a reconciler: "mitigation" (its own change failed: retried with
// backoff), "environment" (the server prevents any change: not blamed, retried soon) or
// "manifest" (cannot succeed for this server until the manifest or inventory changes).
const char* blame(Errc code);
// Seconds to wait before attempt `attempts + 1` after a failure of that cause (capped).
std::chrono::seconds backoff(const std::string& cause, int attempts);

// Observed state of everything in the ledger, from every reconciler.
ObservedState observe_all(const std::vector<Reconciler*>& reconcilers, const std::vector<state::LedgerRecord>& ledger,
                          const std::map<std::string, const Manifest*>& manifests);

// Runs the probes of m against the listener; empty when they all give the expected verdict
// (retrying until the window closes, since a reload takes a moment), else what went wrong.
// `blocking_statuses`: every status a mitigation on this server answers with (403, 444 and those
// the manifests give): a request another mitigation already refuses is blocked too.
std::string run_probes(Prober& prober, Clock& clock, const std::string& url, const Manifest& m,
                       const std::set<int>& blocking_statuses, std::chrono::milliseconds window);
std::set<int> blocking_statuses(const std::map<std::string, const Manifest*>& manifests);

ApplyOutcome apply_plan(const Plan& plan, const std::map<std::string, const Manifest*>& manifests, ApplyContext& ctx);

}  // namespace mitigd
