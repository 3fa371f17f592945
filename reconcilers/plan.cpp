#include "reconcilers/plan.hpp"

#include <botan/hash.h>
#include <botan/hex.h>
#include <boost/json.hpp>

#include <algorithm>

namespace mitigd {
namespace json = boost::json;

const char* to_string(ObservedAction::State s) {
  switch (s) {
    case ObservedAction::State::in_force: return "in_force";
    case ObservedAction::State::drifted: return "drifted";
    case ObservedAction::State::absent: return "absent";
  }
  return "?";
}

void merge_observed(ObservedState& out, const std::string& id, int action_index, ObservedAction part) {
  auto [it, fresh] = out.actions.emplace(std::pair{id, action_index}, part);
  if (fresh || part.state == ObservedAction::State::in_force) return;
  ObservedAction& have = it->second;
  if (have.state == ObservedAction::State::in_force) {
    have = std::move(part);
    return;
  }
  if (part.state == ObservedAction::State::absent && have.state == ObservedAction::State::drifted) have.state = part.state;
  if (!part.detail.empty()) have.detail += (have.detail.empty() ? "" : "; ") + part.detail;
}

const char* to_string(Step::Op op) {
  switch (op) {
    case Step::Op::apply: return "apply";
    case Step::Op::revert: return "revert";
    case Step::Op::repair: return "repair";
    case Step::Op::remove_orphan: return "remove_orphan";
  }
  return "?";
}

char symbol(Step::Op op) {
  switch (op) {
    case Step::Op::apply: return '+';
    case Step::Op::revert: return '-';
    case Step::Op::repair: return '~';
    case Step::Op::remove_orphan: return '-';
  }
  return '?';
}

std::string describe_target(const Action& action, const Inventory& inv) {
  std::string server = inv.web_server ? to_string(inv.web_server->kind) : "web server";
  std::string scope = action.scope ? " on " + *action.scope : " site-wide";
  switch (action.kind) {
    case ActionKind::rewrite_rule: return server + " request rule" + scope;
    case ActionKind::response_header: {
      const auto& h = std::get<ResponseHeaderEdit>(action.detail);
      return server + " response header " + h.header + scope;
    }
    case ActionKind::disable_service: {
      const auto& d = std::get<DisableService>(action.detail);
      auto it = inv.services.find(d.service);
      return "stop and mask unit " + (it == inv.services.end() ? "?" : it->second) +
             (d.persistent ? " (persistent)" : " (runtime)");
    }
    case ActionKind::disable_app_pool: {
      const auto& d = std::get<DisableAppPool>(action.detail);
      auto it = inv.app_pools.find(d.app_pool);
      std::string prefixes;
      for (const auto& [name, vdir] : inv.vdirs) {
        if (vdir.app_pool == d.app_pool) prefixes += (prefixes.empty() ? "" : ", ") + vdir.prefix;
      }
      return "stop and mask unit " + (it == inv.app_pools.end() ? "?" : it->second) + "; " +
             std::to_string(d.status) + " on " + (prefixes.empty() ? "(no vdirs)" : prefixes);
    }
    case ActionKind::disable_vdir: {
      const auto& d = std::get<DisableVdir>(action.detail);
      auto it = inv.vdirs.find(d.vdir);
      return server + " answers " + std::to_string(d.status) + " on " + (it == inv.vdirs.end() ? "?" : it->second.prefix);
    }
  }
  return "?";
}

namespace {

int phase_of(Step::Op op) {
  switch (op) {
    case Step::Op::remove_orphan: return 0;
    case Step::Op::revert: return 1;
    case Step::Op::repair: return 2;
    case Step::Op::apply: return 3;
  }
  return 4;
}

void feed(Botan::HashFunction& h, const std::string& s) {
  std::uint64_t n = s.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  h.update(len, 8);
  h.update(s);
}

}  // namespace

namespace {

Step revert_step(const Decision& d, const state::LedgerRecord& r, const std::string& reason) {
  Step s;
  s.op = Step::Op::revert;
  s.mitigation_id = d.id;
  s.revision = r.revision;
  s.action_index = r.action_index;
  s.kind = r.kind;
  s.action_name = r.kind;
  if (d.manifest && r.revision == d.manifest->revision && static_cast<std::size_t>(r.action_index) < d.manifest->actions.size()) {
    s.action_name = d.manifest->actions[static_cast<std::size_t>(r.action_index)].name;
  }
  s.target = r.resource;
  s.reason = reason;
  s.ledger_row = r.row;
  return s;
}

// Why a recorded action of the wanted revision needs a repair; empty when it is in force.
std::string repair_reason(const Decision& d, const state::LedgerRecord& r, const ObservedState& observed) {
  if (r.phase == "applying") return "an earlier run was interrupted while applying: completing it";
  if (r.phase == "reverting") return "an earlier run was interrupted while reverting, but the mitigation is wanted: re-applying";
  auto obs = observed.actions.find({d.id, r.action_index});
  if (obs != observed.actions.end() && obs->second.state != ObservedAction::State::in_force) {
    return "drift: " + std::string(to_string(obs->second.state)) + (obs->second.detail.empty() ? "" : " (" + obs->second.detail + ")");
  }
  return {};
}

// Steps for a mitigation that should be present: revert rows of another revision or of actions
// without a target, repair drift, apply what is not recorded.
void plan_present(const Decision& d, const std::vector<const state::LedgerRecord*>& rows, const ObservedState& observed,
                  const Inventory& inventory, Plan& plan) {
  const Manifest& m = *d.manifest;
  std::set<int> active(d.active_actions.begin(), d.active_actions.end());
  std::set<int> held_actions;
  for (const auto* r : rows) {
    if (r->revision != m.revision) {
      plan.steps.push_back(revert_step(d, *r, "replaced by revision " + std::to_string(m.revision) + " (ledger holds revision " +
                                                  std::to_string(r->revision) + ")"));
      continue;
    }
    if (!active.contains(r->action_index)) {
      plan.steps.push_back(revert_step(d, *r, "this action no longer has a target on this server"));
      continue;
    }
    if (!held_actions.insert(r->action_index).second) continue;  // one step per action, even with several rows
    if (std::string why = repair_reason(d, *r, observed); !why.empty()) {
      const Action& a = m.actions[static_cast<std::size_t>(r->action_index)];
      plan.steps.push_back({Step::Op::repair, d.id, m.revision, r->action_index, to_string(a.kind), a.name,
                            describe_target(a, inventory), why, r->row});
    }
  }
  for (std::size_t i : d.active_actions) {
    int idx = static_cast<int>(i);
    if (held_actions.contains(idx)) continue;
    // A row of an older revision for this index is reverted above; apply the new one.
    const Action& a = m.actions[i];
    plan.steps.push_back({Step::Op::apply, d.id, m.revision, idx, to_string(a.kind), a.name, describe_target(a, inventory),
                          d.summary, 0});
  }
}

std::string plan_digest(const Plan& plan, const ObservedState& observed, const std::vector<state::LedgerRecord>& ledger) {
  auto h = Botan::HashFunction::create_or_throw("SHA-256");
  feed(*h, "mitigd.plan/1");
  feed(*h, to_string(plan.mode));
  for (const Step& s : plan.steps) {
    feed(*h, to_string(s.op));
    feed(*h, s.mitigation_id);
    feed(*h, std::to_string(s.revision));
    feed(*h, std::to_string(s.action_index));
    feed(*h, s.target);
    feed(*h, std::to_string(s.ledger_row));
  }
  for (const auto& [key, obs] : observed.actions) {
    feed(*h, key.first + "#" + std::to_string(key.second) + "=" + to_string(obs.state));
  }
  for (const auto& r : ledger) {
    feed(*h, r.mitigation_id + "#" + std::to_string(r.action_index) + "@" + std::to_string(r.revision) + ":" + r.phase);
  }
  return Botan::hex_encode(h->final(), false);
}

}  // namespace

Plan make_plan(std::vector<Decision> decisions, const ObservedState& observed,
               const std::vector<state::LedgerRecord>& ledger, const Inventory& inventory, Mode mode) {
  Plan plan;
  plan.mode = mode;
  std::map<std::string, std::vector<const state::LedgerRecord*>> ledger_by_id;
  for (const auto& r : ledger) ledger_by_id[r.mitigation_id].push_back(&r);
  for (const Decision& d : decisions) {
    auto held = ledger_by_id.find(d.id);
    std::vector<const state::LedgerRecord*> rows;
    if (held != ledger_by_id.end()) rows = held->second;
    if (d.want == Want::hold) continue;
    if (d.want == Want::absent) {
      for (const auto* r : rows) plan.steps.push_back(revert_step(d, *r, d.summary));
      continue;
    }
    plan_present(d, rows, observed, inventory, plan);
  }
  for (const Orphan& o : observed.orphans) {
    plan.steps.push_back({Step::Op::remove_orphan, o.mitigation_id, o.revision, -1, "orphan", "unrecorded file",
                          o.resource, "carries the mitigd marker but the ledger has no record of it", 0});
  }
  // Order: by phase, then mitigation id; reverts undo actions last-first, applies go first-last.
  std::stable_sort(plan.steps.begin(), plan.steps.end(), [](const Step& a, const Step& b) {
    if (phase_of(a.op) != phase_of(b.op)) return phase_of(a.op) < phase_of(b.op);
    if (a.mitigation_id != b.mitigation_id) return a.mitigation_id < b.mitigation_id;
    if (a.op == Step::Op::revert) return a.action_index > b.action_index;
    return a.action_index < b.action_index;
  });
  plan.decisions = std::move(decisions);
  plan.digest = plan_digest(plan, observed, ledger);
  return plan;
}

json::value plan_to_json(const Plan& plan, const std::string& host) {
  json::object root;
  root["schema"] = "mitigd.plan/1";
  root["host"] = host;
  root["mode"] = to_string(plan.mode);
  root["digest"] = plan.digest;
  root["changes"] = plan.steps.size();
  json::array steps;
  for (const Step& s : plan.steps) {
    json::object o;
    o["op"] = to_string(s.op);
    o["mitigation"] = s.mitigation_id;
    o["revision"] = s.revision;
    o["action_index"] = s.action_index;
    o["kind"] = s.kind;
    o["action"] = s.action_name;
    o["target"] = s.target;
    o["reason"] = s.reason;
    steps.push_back(std::move(o));
  }
  root["steps"] = std::move(steps);
  json::array mitigations;
  for (const Decision& d : plan.decisions) {
    json::object o;
    o["id"] = d.id;
    o["revision"] = d.revision;
    o["title"] = d.manifest ? d.manifest->title : "";
    o["status"] = to_string(d.status);
    o["want"] = to_string(d.want);
    o["reason"] = d.summary;
    json::array chain;
    for (const auto& r : d.reasons) chain.push_back(json::string(r));
    o["reasons"] = std::move(chain);
    mitigations.push_back(std::move(o));
  }
  root["mitigations"] = std::move(mitigations);
  return root;
}

}  // namespace mitigd
