#pragma once
// The plan: the ordered steps that turn the observed state into the desired state. Pure: it reads
// decisions, the observed state and the ledger, and touches nothing. Dry-run prints it; apply
// executes exactly it. The digest covers the steps and everything they were computed from, so a
// saved plan is refused when the server changed since.
#include "policies/desired.hpp"
#include "state/store.hpp"

#include <boost/json/value.hpp>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mitigd {

// What a reconciler saw for one action mitigd is responsible for.
struct ObservedAction {
  enum class State { in_force, drifted, absent } state = State::absent;
  std::string detail;  // what differs, for the plan's reason
};
const char* to_string(ObservedAction::State s);

// A resource carrying our marker that the ledger does not know (ledger lost or edited by hand).
struct Orphan {
  std::string resource;  // "nginx:/etc/nginx/mitigd/server/50-M1.conf"
  std::string mitigation_id;
  std::int64_t revision = 0;
};

struct ObservedState {
  std::map<std::pair<std::string, int>, ObservedAction> actions;  // (mitigation id, action index)
  std::vector<Orphan> orphans;
};

// Several reconcilers can observe one action (an app pool: its unit and its vdirs' 503): the
// action is in force only when every part is; the details of the parts that are not are joined.
void merge_observed(ObservedState& out, const std::string& id, int action_index, ObservedAction part);

struct Step {
  enum class Op { apply, revert, repair, remove_orphan } op = Op::apply;
  std::string mitigation_id;
  std::int64_t revision = 0;  // apply/repair: the manifest's; revert: the ledger's
  int action_index = 0;
  std::string kind;
  std::string action_name;
  std::string target;  // what on this server is changed, for people
  std::string reason;
  std::int64_t ledger_row = 0;  // revert/repair: the ledger row
};
const char* to_string(Step::Op op);
char symbol(Step::Op op);

struct Plan {
  Mode mode = Mode::enforce;
  std::vector<Step> steps;
  std::vector<Decision> decisions;
  std::string digest;  // hex SHA-256
  bool empty() const { return steps.empty(); }
};

std::string describe_target(const Action& action, const Inventory& inventory);

Plan make_plan(std::vector<Decision> decisions, const ObservedState& observed,
               const std::vector<state::LedgerRecord>& ledger, const Inventory& inventory, Mode mode);

// The documented, stable JSON form of a plan (docs/plan-json.md), schema "mitigd.plan/1".
boost::json::value plan_to_json(const Plan& plan, const std::string& host);

}  // namespace mitigd
