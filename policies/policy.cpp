#include "policies/policy.hpp"

#include "policies/json_input.hpp"
#include "policies/limits.hpp"
#include "policies/manifest.hpp"

#include <filesystem>
#include <set>

namespace mitigd {
namespace json = boost::json;
namespace fs = std::filesystem;
using json_input::ObjectReader;

const char* to_string(Mode mode) { return mode == Mode::enforce ? "enforce" : "dry-run"; }

std::string Policy::rule_mode(const std::string& id) const {
  for (const PolicyFile* f : {&server, &org}) {
    if (auto it = f->rule_modes.find(id); it != f->rule_modes.end()) return it->second;
  }
  return {};
}

Mode Policy::mode() const {
  if (org.mode == Mode::dry_run || server.mode == Mode::dry_run) return Mode::dry_run;
  return Mode::enforce;
}

bool Policy::revert_on_feed_expiry() const {
  if (server.revert_on_feed_expiry) return *server.revert_on_feed_expiry;
  return org.revert_on_feed_expiry.value_or(false);
}

bool Policy::auto_revert() const {
  if (server.auto_revert) return *server.auto_revert;
  return org.auto_revert.value_or(true);
}

const BlockEntry* Policy::blocking_entry(std::string_view id, SysSeconds now, std::string* level) const {
  for (const PolicyFile* f : {&org, &server}) {
    for (const BlockEntry& e : f->blocked) {
      if (e.id != id) continue;
      if (e.until_time && now >= *e.until_time) continue;
      if (level) *level = f == &org ? "organisation" : "server " + host;
      return &e;
    }
  }
  return nullptr;
}

namespace {

PolicyFile parse_policy_or_throw(const std::string& file, const json::value& doc) {
  ObjectReader r(doc, file, "");
  PolicyFile p;
  p.file = file;
  p.present = true;
  p.mitigations_enabled = r.boolean("mitigations_enabled", true);
  if (auto mode = r.optional_string("mode", 16)) {
    if (*mode == "enforce") {
      p.mode = Mode::enforce;
    } else if (*mode == "dry-run") {
      p.mode = Mode::dry_run;
    } else {
      r.fail("mode", "\"enforce\" or \"dry-run\"");
    }
  }
  if (const json::value* v = r.optional("auto_revert")) {
    if (!v->is_bool()) r.fail("auto_revert", "true or false");
    p.auto_revert = v->get_bool();
  }
  if (auto v = r.optional_string("on_feed_expiry", 16)) {
    if (*v != "keep" && *v != "revert") r.fail("on_feed_expiry", "\"keep\" or \"revert\"");
    p.revert_on_feed_expiry = *v == "revert";
  }
  if (const json::value* blocked = r.optional("blocked")) {
    const auto& arr = json_input::as_array(*blocked, file, r.child_path("blocked"), limits::kBlockedEntries);
    std::set<std::string> ids;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      std::string path = json_input::index_path(r.child_path("blocked"), i);
      ObjectReader er(arr[i], file, path);
      BlockEntry e;
      e.id = er.string("id", 32);
      if (!is_valid_mitigation_id(e.id)) er.fail("id", "a mitigation id such as M1");
      if (!ids.insert(e.id).second) er.fail("id", "each id at most once in a blocklist (" + e.id + " repeats)");
      e.reason = er.optional_string("reason", limits::kReasonBytes).value_or("");
      if (!json_input::is_single_line(e.reason)) er.fail("reason", "a reason on one line");
      e.by = er.optional_string("by", 128).value_or("");
      if (!json_input::is_single_line(e.by)) er.fail("by", "a name on one line");
      if (auto until = er.optional_string("until", 32)) {
        e.until_time = parse_until(*until);
        if (!e.until_time) er.fail("until", "a date such as 2026-12-31 or a UTC time such as 2026-12-31T18:00:00Z");
        e.until = *until;
      }
      er.finish();
      p.blocked.push_back(std::move(e));
    }
  }
  if (const json::value* modes = r.optional("rule_modes")) {
    ObjectReader mr(*modes, file, r.child_path("rule_modes"));
    for (const auto& kv : mr.object()) {
      std::string id(kv.key());
      if (!is_valid_mitigation_id(id)) json_input::fail_at(file, mr.child_path(id), "a mitigation id such as M1 as the key");
      std::string mode = mr.string(id, 16);
      if (mode != "detect" && mode != "enforce") mr.fail(id, "\"detect\" or \"enforce\"");
      p.rule_modes[id] = mode;
    }
    if (p.rule_modes.size() > limits::kBlockedEntries) r.fail("rule_modes", "at most " + std::to_string(limits::kBlockedEntries) + " entries");
    mr.finish();
  }
  r.finish();
  return p;
}

}  // namespace

Result<PolicyFile> parse_policy_file(const std::string& file, std::string_view text) {
  auto doc = json_input::parse(file, text);
  if (!doc) return doc.error();
  try {
    return parse_policy_or_throw(file, *doc);
  } catch (const json_input::SchemaError& e) {
    return make_error(Errc::invalid_input, e.message());
  }
}

namespace {
Result<PolicyFile> load_policy_file(const std::string& path) {
  auto text = json_input::read_file_capped(path, limits::kPolicyFileBytes);
  if (!text) return text.error();
  return parse_policy_file(path, *text);
}
}  // namespace

namespace {

// servers/ holds files, but none for this host: the host name in the inventory (or a file name) is
// probably mistyped, and that server's blocks and enablement are silently not applied.
std::string missing_server_file_warning(const std::string& dir, const std::string& host) {
  std::error_code ec;
  std::vector<std::string> hosts;
  for (const auto& entry : fs::directory_iterator(fs::path(dir) / "servers", ec)) {
    if (entry.path().extension() == ".json") hosts.push_back(entry.path().stem().string());
  }
  if (hosts.empty()) return {};
  std::sort(hosts.begin(), hosts.end());
  std::string listed;
  for (std::size_t i = 0; i < hosts.size() && i < 5; ++i) listed += (i ? ", " : "") + hosts[i];
  if (hosts.size() > 5) listed += ", ...";
  return (fs::path(dir) / "servers").string() + " has policy files for " + listed + " but none for this server's host \"" +
         host + "\" (the inventory's \"host\"): no server-level blocks or enablement apply here. A typo in the "
         "inventory's host or in a file name?";
}

}  // namespace

Result<Policy> load_policy_dir(const std::string& dir, const std::string& host) {
  Policy policy;
  policy.host = host;
  auto org = load_policy_file((fs::path(dir) / "org.json").string());
  if (!org) return org.error();
  policy.org = std::move(*org);
  std::string server_path = (fs::path(dir) / "servers" / (host + ".json")).string();
  std::error_code ec;
  if (fs::exists(server_path, ec)) {
    auto server = load_policy_file(server_path);
    if (!server) return server.error();
    policy.server = std::move(*server);
  } else {
    policy.server.file = server_path;
    if (auto w = missing_server_file_warning(dir, host); !w.empty()) policy.warnings.push_back(std::move(w));
  }
  return policy;
}

std::vector<Error> validate_policy_dir(const std::string& dir) {
  std::vector<Error> errors;
  auto org = load_policy_file((fs::path(dir) / "org.json").string());
  if (!org) errors.push_back(org.error());
  std::error_code ec;
  fs::path servers = fs::path(dir) / "servers";
  if (fs::is_directory(servers, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(servers, ec)) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      if (f.extension() != ".json") {
        errors.push_back(make_error(Errc::invalid_input,
                                    f.string() + ": expected only <host>.json files in servers/"));
        continue;
      }
      auto server = load_policy_file(f.string());
      if (!server) errors.push_back(server.error());
    }
  }
  return errors;
}

}  // namespace mitigd
