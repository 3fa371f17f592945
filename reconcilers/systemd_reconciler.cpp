#include "reconcilers/systemd_reconciler.hpp"

#include <boost/json.hpp>

#include <set>

namespace mitigd {
namespace json = boost::json;

namespace {

bool mask_runtime(const Action& a) {
  if (const auto* s = std::get_if<DisableService>(&a.detail)) return !s->persistent;
  return true;  // app pools: runtime, a reboot brings them back unless the mitigation holds
}

std::string state_json(const UnitState& s) {
  return json::serialize(json::object{{"load_state", s.load_state},
                                      {"active_state", s.active_state},
                                      {"sub_state", s.sub_state},
                                      {"unit_file_state", s.unit_file_state}});
}

}  // namespace

Result<std::string> SystemdReconciler::unit_for(const Action& a) const {
  if (const auto* s = std::get_if<DisableService>(&a.detail)) {
    auto it = inventory_.services.find(s->service);
    if (it == inventory_.services.end()) {
      return make_error(Errc::invalid_input, "service " + s->service + " is not bound to a unit in the inventory (" +
                                                 inventory_.file + ": services)");
    }
    return it->second;
  }
  if (const auto* p = std::get_if<DisableAppPool>(&a.detail)) {
    auto it = inventory_.app_pools.find(p->app_pool);
    if (it == inventory_.app_pools.end()) {
      return make_error(Errc::invalid_input, "app pool " + p->app_pool + " is not bound to a unit in the inventory (" +
                                                 inventory_.file + ": app_pools)");
    }
    return it->second;
  }
  return make_error(Errc::internal, "not a unit action");
}

std::string SystemdReconciler::resource(const Manifest& m, std::size_t action) const {
  auto unit = unit_for(m.actions[action]);
  return "unit:" + (unit ? *unit : std::string("?"));
}

void SystemdReconciler::observe(const std::vector<state::LedgerRecord>& rows, const std::map<std::string, const Manifest*>&,
                                ObservedState& out) {
  for (const auto& r : rows) {
    if (!r.resource.starts_with("unit:")) continue;
    std::string unit = r.resource.substr(5);
    ObservedAction obs;
    auto s = driver_.state(unit);
    if (!s) {
      obs.state = ObservedAction::State::drifted;
      obs.detail = "cannot read unit " + unit + ": " + s.error().message;
    } else if (!s->masked()) {
      obs.state = ObservedAction::State::drifted;
      obs.detail = "unit " + unit + " was unmasked (unit file state " + s->unit_file_state + ")";
      if (s->running()) obs.detail += " and is " + s->active_state;
    } else if (s->running()) {
      obs.state = ObservedAction::State::drifted;
      obs.detail = "unit " + unit + " is " + s->active_state + " again";
    } else {
      obs.state = ObservedAction::State::in_force;
    }
    merge_observed(out, r.mitigation_id, r.action_index, obs);
  }
}

Result<std::string> SystemdReconciler::prior_state(const Manifest& m, std::size_t action) {
  auto unit = unit_for(m.actions[action]);
  if (!unit) return unit.error();
  auto s = driver_.state(*unit);
  if (!s) return s.error();
  return state_json(*s);
}

Result<std::string> SystemdReconciler::put(const Manifest& m, const std::vector<std::size_t>& actions,
                                           const std::vector<std::size_t>&, Undo& undo) {
  // Whatever this put changes, rollback() puts back (in reverse order): [{unit, prior}, ...].
  json::array undo_list;
  auto keep_undo = [&] { undo.text = json::serialize(undo_list); };
  std::set<std::string> done;
  json::array applied;
  for (std::size_t idx : actions) {
    const Action& a = m.actions[idx];
    auto unit = unit_for(a);
    if (!unit) return unit.error();
    if (!done.insert(*unit).second) continue;
    auto before = driver_.state(*unit);
    if (!before) return before.error();
    undo_list.push_back(json::object{{"unit", *unit}, {"prior", state_json(*before)}});
    keep_undo();
    if (!before->masked()) {
      if (auto r = driver_.mask(*unit, mask_runtime(a)); !r) return r.error();
      reach(checkpoint_, "unit: masked, not stopped");
    }
    if (before->running()) {
      if (auto r = driver_.stop(*unit); !r) return r.error();
      reach(checkpoint_, "unit: stopped");
    }
    auto after = driver_.state(*unit);
    if (!after) return after.error();
    if (!after->masked() || after->running()) {
      return make_error(Errc::unavailable, "unit " + *unit + " is still " + after->active_state + " / " +
                                               after->unit_file_state + " after mask and stop");
    }
    applied.push_back(json::object{{"unit", *unit}, {"state", json::parse(state_json(*after))}});
  }
  return json::serialize(applied);
}

Result<void> SystemdReconciler::restore(const std::string& unit, const std::string& prior_json) {
  boost::system::error_code ec;
  auto prior = json::parse(prior_json, ec);
  if (ec || !prior.is_object()) return make_error(Errc::internal, "unit " + unit + ": unreadable prior state in the ledger");
  const auto& o = prior.as_object();
  auto text = [&](const char* k) { return o.contains(k) && o.at(k).is_string() ? std::string(o.at(k).as_string()) : ""; };
  UnitState before{text("load_state"), text("active_state"), text("sub_state"), text("unit_file_state")};
  auto now = driver_.state(unit);
  if (!now) return now.error();
  // Reverse order of put: unmask (only what we masked), then start (only if it ran before).
  if (!before.masked() && now->masked()) {
    bool runtime = now->unit_file_state == "masked-runtime";
    if (auto r = driver_.unmask(unit, runtime); !r) return r.error();
    reach(checkpoint_, "unit: unmasked, not started");
  }
  if (before.running() && !now->running()) {
    if (auto r = driver_.start(unit); !r) return r.error();
    reach(checkpoint_, "unit: started");
  }
  return {};
}

Result<void> SystemdReconciler::rollback(const Undo& undo) {
  if (undo.empty()) return {};
  boost::system::error_code ec;
  auto list = json::parse(undo.text, ec);
  if (ec || !list.is_array()) return make_error(Errc::internal, "unit undo value: not a JSON list");
  const auto& items = list.as_array();
  for (auto u = items.rbegin(); u != items.rend(); ++u) {
    const auto* o = u->if_object();
    const auto* unit = o ? o->if_contains("unit") : nullptr;
    const auto* prior = o ? o->if_contains("prior") : nullptr;
    if (!unit || !unit->is_string() || !prior || !prior->is_string()) {
      return make_error(Errc::internal, "unit undo value: malformed entry");
    }
    if (auto r = restore(std::string(unit->as_string()), std::string(prior->as_string())); !r) return r;
  }
  return {};
}

Result<void> SystemdReconciler::undo(const std::vector<state::LedgerRecord>& rows) {
  std::set<std::string> done;
  for (auto r = rows.rbegin(); r != rows.rend(); ++r) {
    if (!r->resource.starts_with("unit:")) continue;
    std::string unit = r->resource.substr(5);
    if (!done.insert(unit).second) continue;
    if (auto ok = restore(unit, r->prior_state); !ok) return ok;
  }
  return {};
}

Result<void> SystemdReconciler::remove_orphan(const std::string& resource) {
  // Units carry no marker of ours: mitigd only ever touches units its ledger names.
  return make_error(Errc::internal, resource + ": units are never orphans");
}

}  // namespace mitigd
