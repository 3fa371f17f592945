// mitigctl validate, validate-manifests, block, unblock, enable, disable: the policy repository.
#include "daemon/cli_common.hpp"
#include "policies/core_rules.hpp"

#include "daemon/audit_journal.hpp"
#include "feed/manifest_source.hpp"
#include "policies/atomic_file.hpp"
#include "policies/json_input.hpp"
#include "policies/policy_edit.hpp"

#include <boost/json.hpp>

#include <filesystem>
#include <iostream>
#include <set>

namespace mitigd {
namespace json = boost::json;

namespace {

std::vector<std::string> g_warnings;  // said on stderr and recorded in the audit with the edit

void write_or_throw(const std::string& path, const std::string& text) {
  if (auto r = write_file_atomically(path, text, 0644); !r) throw ErrorException(r.error());
}

// Blocking ahead is allowed (EEMS allows it), but an id no manifest and no ledger row carries is
// more often a typo: say so.
void warn_unknown_ids(const Cli& cli, const Config& config, const std::vector<std::string>& ids) {
  std::set<std::string> known;
  try {
    ProcessRunner runner;
    HttpProber prober;
    Engine engine(config, runner, prober);
    auto store = state::Store::open(config.state_db);
    if (!engine.load(store.get(), false)) return;  // inputs unreadable: nothing to compare with
    for (const auto& m : engine.inputs().manifests.manifests) known.insert(m.id);
    for (const auto& bad : engine.inputs().manifests.invalid) known.insert(bad.id);
    for (const auto& r : store->ledger()) known.insert(r.mitigation_id);
  } catch (const std::exception&) {
    return;
  }
  for (const auto& id : ids) {
    if (known.contains(id)) continue;
    std::string w = "no known manifest carries mitigation id " + id + " (blocked ahead of publication, or a typo?)";
    g_warnings.push_back(w);
    if (!cli.json_out) std::cerr << "mitigctl: WARNING: " << w << "\n";
  }
}

}  // namespace

int cmd_validate(Cli& cli, const Args& args) {
  if (args.positional().size() != 1) throw UsageError("validate takes the policy repository directory");
  auto errors = validate_policy_dir(args.positional()[0]);
  // --host HOST (repeatable): the servers this repository must have a policy for; a missing one
  // is a warning (the host name is likely mistyped somewhere).
  std::vector<std::string> warnings;
  for (const auto& host : args.values("--host")) {
    if (auto policy = load_policy_dir(args.positional()[0], host)) warnings.insert(warnings.end(), policy->warnings.begin(), policy->warnings.end());
  }
  if (cli.json_out) {
    json::object o;
    o["ok"] = errors.empty();
    json::array arr, warn;
    for (const auto& e : errors) arr.push_back(json::string(e.message));
    for (const auto& w : warnings) warn.push_back(json::string(w));
    o["errors"] = std::move(arr);
    o["warnings"] = std::move(warn);
    print_json(o);
  } else {
    print_warnings(cli, warnings);
    for (const auto& e : errors) std::cerr << "mitigctl: " << e.message << "\n";
    if (errors.empty()) std::cout << args.positional()[0] << ": policy repository is valid\n";
  }
  return errors.empty() ? 0 : 1;
}

int cmd_validate_manifests(Cli& cli, const Args& args) {
  if (args.positional().size() != 1) throw UsageError("validate-manifests takes a directory");
  auto set = feed::load_manifest_dir(args.positional()[0]);
  if (!set) throw ErrorException(set.error());
  if (!set->invalid.empty()) {
    std::string all;
    for (const auto& bad : set->invalid) all += (all.empty() ? "" : "\n") + bad.error;
    throw ErrorException(make_error(Errc::invalid_input, all));
  }
  // Per request rule: gated by a literal of the prefilter, or run on every request (the cost cliff).
  json::array ungated;
  std::size_t rules = 0;
  for (const auto& m : set->manifests) {
    CoreRules core(m);
    for (std::size_t i = 0; i < m.actions.size(); ++i) {
      if (!std::holds_alternative<RewriteRule>(m.actions[i].detail)) continue;
      ++rules;
      if (!core.gated(i)) ungated.push_back(json::string(m.id + ": " + m.actions[i].name));
    }
  }
  if (cli.json_out) {
    json::object o;
    o["ok"] = true;
    o["manifests"] = set->manifests.size();
    o["request_rules"] = rules;
    o["rules_run_on_every_request"] = ungated;
    print_json(o);
  } else {
    std::cout << args.positional()[0] << ": " << set->manifests.size() << " manifests are valid; " << rules
              << " request rules, " << ungated.size() << " without a literal gate (they run on every request)\n";
    for (const auto& u : ungated) std::cout << "  EVERY " << u.as_string().c_str() << "\n";
  }
  return 0;
}

namespace {

// The policy file a command edits: org.json with --org, else servers/<host>.json (this inventory's
// host, or --server HOST, which must exist unless --create).
std::string policy_file_for(const Config& config, const Args& args) {
  if (args.flag("--org")) {
    if (args.value("--server")) throw UsageError("--org and --server exclude each other");
    return config.policy_dir + "/org.json";
  }
  std::string host;
  if (auto h = args.value("--server")) {
    host = *h;
  } else {
    auto inv = load_inventory(config.inventory);
    if (!inv) throw ErrorException(inv.error());
    host = inv->host;
  }
  if (host.empty() || host.find('/') != std::string::npos || host.starts_with(".")) throw UsageError("--server HOST: a host name");
  std::string file = config.policy_dir + "/servers/" + host + ".json";
  if (!std::filesystem::exists(file)) {
    // A mistyped host must not silently create a policy no server reads.
    if (args.value("--server") && !args.flag("--create")) {
      throw ErrorException(make_error(Errc::not_found, file + " does not exist: no server policy for host \"" + host +
                                                           "\" yet. Check the spelling, or add --create to start one"));
    }
    std::filesystem::create_directories(config.policy_dir + "/servers");
    write_or_throw(file, "{\n  \"blocked\": []\n}\n");
  }
  return file;
}

}  // namespace

int cmd_policy_edit(Cli& cli, const std::string& command, const Args& args) {
  Config config = cli.config();
  std::string file = policy_file_for(config, args);
  auto text = json_input::read_file_capped(file, 1024 * 1024);
  if (!text) throw ErrorException(text.error());
  Result<std::string> edited = make_error(Errc::internal, "no edit");
  std::string summary;
  const auto& ids = args.positional();
  for (const auto& id : ids) {
    if (!is_valid_mitigation_id(id)) throw UsageError(id + ": not a mitigation id");
  }
  if (command == "block" && args.flag("--clear")) {
    if (!ids.empty()) throw UsageError("block --clear takes no ids");
    edited = policy_edit::clear(file, *text);
    summary = "cleared the blocklist";
  } else if (command == "block") {
    if (ids.empty()) throw UsageError("block needs at least one mitigation id (or --clear)");
    std::vector<BlockEntry> entries;
    for (const auto& id : ids) {
      BlockEntry e;
      e.id = id;
      e.reason = args.value("--reason").value_or("");
      e.by = args.value("--by").value_or("");
      if (!json_input::is_single_line(e.reason) || !json_input::is_single_line(e.by)) throw UsageError("--reason and --by: one line");
      if (auto until = args.value("--until")) {
        auto at = parse_until(*until);
        if (!at) throw UsageError("--until: a date such as 2026-12-31 or a UTC time such as 2026-12-31T18:00:00Z");
        if (*at <= now_seconds()) {
          throw UsageError("--until " + *until + " is already past (it ends at " + format_utc(*at) +
                           "): the block would never apply");
        }
        e.until = *until;
      }
      entries.push_back(e);
    }
    warn_unknown_ids(cli, config, ids);
    edited = policy_edit::block(file, *text, entries);
    summary = "blocked";
    for (const auto& id : ids) summary += " " + id;
    if (auto r = args.value("--reason")) summary += ": " + *r;
  } else if (command == "unblock") {
    if (ids.empty()) throw UsageError("unblock needs at least one mitigation id");
    warn_unknown_ids(cli, config, ids);
    edited = policy_edit::unblock(file, *text, ids);
    summary = "unblocked";
    for (const auto& id : ids) summary += " " + id;
  } else {
    if (!ids.empty()) throw UsageError(command + " takes no ids");
    edited = policy_edit::set_enabled(file, *text, command == "enable");
    summary = command == "enable" ? "enabled mitigations" : "disabled mitigations";
  }
  if (!edited) throw ErrorException(edited.error());
  if (*edited == *text) {
    if (!cli.json_out) std::cout << file << ": already so, nothing changed\n";
    return 0;
  }
  write_or_throw(file, *edited);
  try {
    auto store = state::Store::open(config.state_db);
    attach_audit_journal(*store, "mitigctl");
    store->audit_append({"", "policy_edited", ids.size() == 1 ? ids[0] : "", 0, "", actor(), summary + " in " + file, "{}"});
    for (const auto& w : g_warnings) store->audit_append({"", "warning", "", 0, "", actor(), w, "{}"});
  } catch (const std::exception&) {
    // The policy repository may be edited on a machine without mitigd's state: the daemon audits
    // the change when it sees it.
  }
  if (cli.json_out) {
    print_json(json::object{{"file", file}, {"changed", true}, {"summary", summary}});
  } else {
    std::cout << file << ": " << summary << " (review and commit it; the daemon converges on its own)\n";
  }
  return 0;
}

}  // namespace mitigd
