#include "reconcilers/web_reconciler.hpp"

#include <boost/json.hpp>

#include <set>

namespace mitigd {
namespace json = boost::json;

namespace {

// Why a file of this revision renders differently today: the rules' mode (the policy's rule_modes
// or the manifest's), or else the rules engine or mitigd's version.
std::string rerender_reason(const std::string& name, const std::string& text, const Manifest& m) {
  bool was_detect = text.find("\n    mode detect") != std::string::npos, now_detect = false;
  for (const Action& a : m.actions) now_detect = now_detect || (a.kind == ActionKind::rewrite_rule && m.mode_of(a) == RuleMode::detect);
  if (was_detect != now_detect) {
    return std::string("the rules' mode changed (") + (was_detect ? "detect -> enforce" : "enforce -> detect") +
           "): rule_modes in the policy, or the manifest";
  }
  return "rule file " + name + " was rendered for another rules engine or mitigd version";
}

}  // namespace

// Whether the files on disk are what this mitigd writes for these actions today. They are not after
// the inventory switched rules_engine, or after an upgrade changed the compiler's output.
bool WebRulesReconciler::rendered_as_today(const Manifest& m, const std::set<std::size_t>& actions,
                                           const std::map<web::FileKey, std::string>& owned) const {
  std::vector<std::size_t> web_actions;
  for (std::size_t i : actions) {
    if (i < m.actions.size() && handles(m.actions[i].kind)) web_actions.push_back(i);
  }
  auto files = web::render(driver_.kind(), m, web_actions, inventory_);
  if (!files) return false;  // this engine cannot run it: the file on disk is another engine's
  for (const auto& f : *files) {
    auto it = owned.find({f.context, f.name});
    if (it == owned.end() || it->second != f.text) return false;
  }
  return true;
}

void WebRulesReconciler::observe(const std::vector<state::LedgerRecord>& rows,
                                 const std::map<std::string, const Manifest*>& manifests, ObservedState& out) {
  auto owned = driver_.read_owned();
  stale_.clear();
  std::map<std::string, std::set<std::size_t>> recorded_actions;
  for (const auto& r : rows) {
    if (r.resource.starts_with("web:")) recorded_actions[r.mitigation_id].insert(r.action_index);
  }
  // An interrupted change: the files on disk may not be what the server runs. Everything we own
  // is suspect until recover() has rolled it back.
  bool interrupted = driver_.has_pending_journal();
  // One mitigation's file answers for all its actions: hashed and re-rendered once, not per row.
  std::map<std::pair<std::string, std::int64_t>, ObservedAction> by_file;
  auto observe_file = [&](const state::LedgerRecord& r) {
    ObservedAction obs;
    auto it = owned.find({web::Context::server, web::file_name_for(r.mitigation_id)});
    if (it == owned.end()) {
      obs.state = ObservedAction::State::absent;
      obs.detail = "rule file " + web::file_name_for(r.mitigation_id) + " is missing";
      return obs;
    }
    auto marker = web::read_marker(it->second);
    auto m = manifests.find(r.mitigation_id);
    if (!marker->body_matches) {
      obs.state = ObservedAction::State::drifted;
      obs.detail = "rule file " + it->first.second + " was edited by hand";
    } else if (marker->revision != r.revision) {
      obs.state = ObservedAction::State::drifted;
      obs.detail = "rule file holds revision " + std::to_string(marker->revision);
    } else if (m != manifests.end() && m->second->revision == r.revision &&
               !rendered_as_today(*m->second, recorded_actions[r.mitigation_id], owned)) {
      obs.state = ObservedAction::State::drifted;
      obs.detail = rerender_reason(it->first.second, it->second, *m->second);
      stale_[r.mitigation_id] = {m->second, recorded_actions[r.mitigation_id]};
    } else if (interrupted) {
      obs.state = ObservedAction::State::drifted;
      obs.detail = "an interrupted change of the web server config is rolled back first";
    } else {
      obs.state = ObservedAction::State::in_force;
    }
    return obs;
  };
  std::set<std::string> known;
  for (const auto& r : rows) {
    if (!r.resource.starts_with("web:")) continue;
    known.insert(r.mitigation_id);
    auto key = std::make_pair(r.mitigation_id, r.revision);
    auto found = by_file.find(key);
    if (found == by_file.end()) found = by_file.emplace(key, observe_file(r)).first;
    merge_observed(out, r.mitigation_id, r.action_index, found->second);
  }
  for (const auto& [key, text] : owned) {
    auto marker = web::read_marker(text);
    if (!marker || marker->id == "_prelude" || known.contains(marker->id)) continue;
    std::string resource = "web:" + marker->id;
    bool listed = false;
    for (const auto& o : out.orphans) listed = listed || o.resource == resource;
    if (!listed) out.orphans.push_back({resource, marker->id, marker->revision});
  }
}

Result<std::string> WebRulesReconciler::prior_state(const Manifest&, std::size_t) {
  // The file names are ours alone (transact refuses to overwrite a file without our marker), so
  // what was there before is always "no file of this mitigation".
  return std::string(R"({"files":"absent"})");
}

Result<std::string> WebRulesReconciler::put(const Manifest& m, const std::vector<std::size_t>&,
                                            const std::vector<std::size_t>& in_force, Undo& undo_out) {
  // A put that fails leaves nothing to roll back: the driver already restored the files.
  std::vector<std::size_t> web_actions;
  for (std::size_t i : in_force) {
    if (handles(m.actions.at(i).kind)) web_actions.push_back(i);
  }
  auto files = web::render(driver_.kind(), m, web_actions, inventory_);
  if (!files) {
    // This engine cannot run the rule (an input only the module evaluates, say). A file another
    // engine left for it goes: the server must keep validating without that engine.
    web::FileSet gone{{{web::Context::http, web::file_name_for(m.id)}, std::nullopt},
                      {{web::Context::server, web::file_name_for(m.id)}, std::nullopt}};
    add_stale_renders(m.id, gone);
    minimise(gone);
    if (!gone.empty()) (void)driver_.transact(gone);
    return files.error();
  }
  web::FileSet changes;
  changes[{web::Context::http, web::file_name_for(m.id)}] = std::nullopt;
  changes[{web::Context::server, web::file_name_for(m.id)}] = std::nullopt;
  json::object applied;
  for (const auto& f : *files) {
    changes[{f.context, f.name}] = f.text;
    applied[f.context == web::Context::http ? "http" : "server"] = web::read_marker(f.text)->sha256;
  }
  add_stale_renders(m.id, changes);
  minimise(changes);
  auto undo = driver_.transact(changes);
  if (!undo) return undo.error();
  undo_out.text = web::fileset_to_json(*undo);
  return json::serialize(applied);
}

// Deleting a file that does not exist, or writing what is there, is no change: keep the set minimal.
void WebRulesReconciler::minimise(web::FileSet& changes) const {
  auto owned = driver_.read_owned();
  for (auto it = changes.begin(); it != changes.end();) {
    auto cur = owned.find(it->first);
    bool same = (!it->second && cur == owned.end()) || (it->second && cur != owned.end() && cur->second == *it->second);
    it = same ? changes.erase(it) : std::next(it);
  }
}

void WebRulesReconciler::add_stale_renders(const std::string& except_id, web::FileSet& changes) const {
  for (const auto& [id, stale] : stale_) {
    if (id == except_id) continue;
    std::vector<std::size_t> actions;
    for (std::size_t i : stale.second) {
      if (i < stale.first->actions.size() && handles(stale.first->actions[i].kind)) actions.push_back(i);
    }
    auto files = web::render(driver_.kind(), *stale.first, actions, inventory_);
    if (!files) {  // this engine cannot run it: its file goes (its own repair reports why)
      changes[{web::Context::http, web::file_name_for(id)}] = std::nullopt;
      changes[{web::Context::server, web::file_name_for(id)}] = std::nullopt;
      continue;
    }
    for (const auto& f : *files) changes[{f.context, f.name}] = f.text;
  }
}

Result<void> WebRulesReconciler::rollback(const Undo& undo) {
  if (undo.empty()) return {};
  auto files = web::fileset_from_json(undo.text);
  if (!files) return files.error();
  auto r = driver_.transact(*files);
  if (!r) return r.error();
  return {};
}

Result<void> WebRulesReconciler::remove_files(const std::string& id) {
  web::FileSet changes;
  auto owned = driver_.read_owned();
  for (web::Context c : {web::Context::http, web::Context::server}) {
    if (owned.contains({c, web::file_name_for(id)})) changes[{c, web::file_name_for(id)}] = std::nullopt;
  }
  if (changes.empty()) return {};
  auto r = driver_.transact(changes);
  if (!r) return r.error();
  return {};
}

Result<void> WebRulesReconciler::undo(const std::vector<state::LedgerRecord>& rows) {
  std::set<std::string> ids;
  for (const auto& r : rows) {
    if (r.resource.starts_with("web:")) ids.insert(r.mitigation_id);
  }
  for (const auto& id : ids) {
    if (auto r = remove_files(id); !r) return r;
  }
  return {};
}

Result<void> WebRulesReconciler::remove_orphan(const std::string& resource) {
  if (!resource.starts_with("web:")) return make_error(Errc::invalid_input, resource + ": not a web resource");
  return remove_files(resource.substr(4));
}

}  // namespace mitigd
