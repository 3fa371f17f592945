#include "feed/publisher.hpp"

#include "policies/atomic_file.hpp"

#include "feed/canonical_json.hpp"
#include "feed/tuf_metadata.hpp"
#include "policies/json_input.hpp"
#include "policies/limits.hpp"
#include "policies/manifest.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sys/stat.h>

namespace mitigd::feed {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::map<std::string, int> kDefaultExpiryDays = {
    {"root", 365}, {"targets", 180}, {"mitigations", 30}, {"snapshot", 7}, {"timestamp", 1}};
const std::vector<std::string> kRoles = {"root", "timestamp", "snapshot", "targets", kMitigationsRole};

Result<void> write_file(const fs::path& path, std::string_view bytes, mode_t mode = 0644) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  return write_file_atomically(path.string(), bytes, mode);
}

Result<json::value> read_json(const fs::path& path) {
  auto text = json_input::read_file_capped(path.string(), 16 * 1024 * 1024);
  if (!text) return text.error();
  return json_input::parse(path.string(), *text);
}

std::string expiry(SysSeconds now, int days) { return format_utc(now + std::chrono::days(days)); }

// Re-sign when less than half the role's period remains.
bool expiring(const json::object& signed_value, SysSeconds now, int days) {
  auto e = parse_utc_timestamp(signed_value.at("expires").as_string());
  return !e || *e - now < std::chrono::hours(12 * days);
}

Result<std::vector<const SigningKey*>> signers_for(const std::vector<const SigningKey*>& available,
                                                   const json::object& role_keys, const std::string& role) {
  std::set<std::string> wanted;
  for (const auto& id : role_keys.at("keyids").as_array()) wanted.insert(std::string(id.as_string()));
  std::vector<const SigningKey*> out;
  for (const auto* k : available) {
    if (wanted.count(k->keyid())) out.push_back(k);
  }
  auto threshold = role_keys.at("threshold").to_number<std::int64_t>();
  if (static_cast<std::int64_t>(out.size()) < threshold) {
    std::string ids;
    for (const auto& id : wanted) ids += (ids.empty() ? "" : ", ") + id.substr(0, 12);
    return make_error(Errc::invalid_input, "role " + role + " must be signed but only " + std::to_string(out.size()) +
                                               " of its keys were given (threshold " + std::to_string(threshold) +
                                               "; its key ids: " + ids + ")");
  }
  return out;
}

// {"keyids": [...], "threshold": N} plus the key objects, from the config's role entry.
void role_keys_from_config(const json::object& role, json::object& keys_out, json::object& role_out) {
  json::array ids;
  for (const auto& k : role.at("keys").as_array()) {
    auto id = sha256_hex(canonical_json(k).value());
    keys_out[id] = k;
    ids.push_back(json::string(id));
  }
  role_out["keyids"] = std::move(ids);
  role_out["threshold"] = role.at("threshold");
}

std::optional<json::object> published_signed(const fs::path& file) {
  auto v = read_json(file);
  if (!v || !v->is_object()) return std::nullopt;
  if (const auto* s = v->as_object().if_contains("signed"); s && s->is_object()) return s->as_object();
  return std::nullopt;
}

}  // namespace

std::string sign_metadata(const json::object& signed_value, const std::vector<const SigningKey*>& keys) {
  auto canonical = canonical_json(signed_value).value();
  json::array sigs;
  for (const auto* k : keys) sigs.push_back(json::object{{"keyid", k->keyid()}, {"sig", k->sign(canonical)}});
  // The file is ordinary JSON (canonical JSON leaves control characters such as the newlines of
  // PEM keys unescaped, which JSON parsers reject); the signatures cover the canonical bytes.
  return json::serialize(json::object{{"signatures", std::move(sigs)}, {"signed", signed_value}}) + "\n";
}

Result<std::string> write_key_pair(const SigningKey& key, const std::string& prefix) {
  if (auto ok = write_file(prefix + ".key", key.to_pkcs8_pem(), 0600); !ok) return ok.error();
  if (auto ok = write_file(prefix + ".pub", json::serialize(key.public_json()) + "\n"); !ok) return ok.error();
  return key.keyid();
}

Result<SigningKey> read_private_key(const std::string& file) {
  auto text = json_input::read_file_capped(file, 64 * 1024);
  if (!text) return text.error();
  return SigningKey::from_pkcs8_pem(*text, file);
}

Result<json::value> read_public_key(const std::string& file) {
  auto v = read_json(file);
  if (!v) return v.error();
  auto k = PublicKey::from_json(*v, file);
  if (!k) return k.error();
  return k->to_json();
}

Result<void> Repository::init(const std::string& dir, const InitOptions& options) {
  if (fs::exists(fs::path(dir) / "repo.json")) return make_error(Errc::conflict, dir + ": already a repository");
  json::object roles;
  for (const auto& role : kRoles) {
    auto it = options.roles.find(role);
    if (it == options.roles.end() || it->second.public_key_files.empty()) {
      return make_error(Errc::invalid_input, "init: role " + role + " needs at least one public key (--" + role + " KEY.pub)");
    }
    json::array keys;
    for (const auto& f : it->second.public_key_files) {
      auto k = read_public_key(f);
      if (!k) return k.error();
      keys.push_back(std::move(*k));
    }
    if (it->second.threshold < 1 || it->second.threshold > static_cast<int>(keys.size())) {
      return make_error(Errc::invalid_input, "init: role " + role + ": threshold must be between 1 and the number of keys");
    }
    roles[role] = json::object{{"keys", std::move(keys)}, {"threshold", it->second.threshold}};
  }
  json::object days;
  for (const auto& [role, d] : kDefaultExpiryDays) {
    auto it = options.expires_days.find(role);
    days[role] = it != options.expires_days.end() ? it->second : d;
  }
  json::object config{{"format", "mitigd.feed-repo/1"},
                      {"consistent_snapshot", options.consistent_snapshot},
                      {"expires_days", std::move(days)},
                      {"roles", std::move(roles)}};
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "staged" / "mitigations", ec);
  if (ec) return make_error(Errc::io, dir + ": " + ec.message());
  Repository repo(dir, std::move(config));
  return repo.save_config();
}

Result<Repository> Repository::open(const std::string& dir) {
  if (!fs::exists(fs::path(dir) / "repo.json")) {
    return make_error(Errc::not_found, dir + " is not a feed repository (no repo.json): create one with `mitigctl feed init`");
  }
  auto v = read_json(fs::path(dir) / "repo.json");
  if (!v) return v.error();
  if (!v->is_object() || v->as_object().if_contains("format") == nullptr ||
      v->as_object().at("format") != "mitigd.feed-repo/1") {
    return make_error(Errc::invalid_input, dir + "/repo.json: format: expected \"mitigd.feed-repo/1\"");
  }
  return Repository(dir, v->as_object());
}

Result<void> Repository::save_config() {
  return write_file(fs::path(dir_) / "repo.json", json::serialize(config_) + "\n");
}

Result<std::vector<std::string>> Repository::add(const std::vector<std::string>& manifest_files) {
  std::vector<std::pair<std::string, std::string>> staged;  // all validated before any is written
  for (const auto& f : manifest_files) {
    auto text = json_input::read_file_capped(f, limits::kManifestBytes);
    if (!text) return text.error();
    auto m = parse_manifest(f, *text);
    if (!m) return m.error();
    staged.emplace_back(m->id, std::move(*text));
  }
  std::vector<std::string> ids;
  for (const auto& [id, text] : staged) {
    if (auto ok = write_file(fs::path(dir_) / "staged" / "mitigations" / (id + ".json"), text); !ok) return ok.error();
    ids.push_back(id);
  }
  return ids;
}

Result<std::vector<std::string>> Repository::remove(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (!is_valid_mitigation_id(id)) return make_error(Errc::invalid_input, "remove: \"" + id + "\" is not a mitigation id");
    if (!fs::exists(fs::path(dir_) / "staged" / "mitigations" / (id + ".json"))) {
      return make_error(Errc::not_found, "remove: " + id + " is not staged in " + dir_);
    }
  }
  for (const auto& id : ids) fs::remove(fs::path(dir_) / "staged" / "mitigations" / (id + ".json"));
  return ids;
}

Result<void> Repository::set_role(const std::string& role, const RoleSetup& setup) {
  if (std::find(kRoles.begin(), kRoles.end(), role) == kRoles.end()) {
    return make_error(Errc::invalid_input, "unknown role " + role);
  }
  json::array keys;
  for (const auto& f : setup.public_key_files) {
    auto k = read_public_key(f);
    if (!k) return k.error();
    keys.push_back(std::move(*k));
  }
  if (keys.empty() || setup.threshold < 1 || setup.threshold > static_cast<int>(keys.size())) {
    return make_error(Errc::invalid_input, "role " + role + ": needs keys and a threshold between 1 and their number");
  }
  config_["roles"].as_object()[role] = json::object{{"keys", std::move(keys)}, {"threshold", setup.threshold}};
  return save_config();
}

Result<PublishReport> Repository::publish(const std::vector<const SigningKey*>& keys, SysSeconds now) {
  const fs::path meta_dir = fs::path(dir_) / "metadata";
  const fs::path targets_dir = fs::path(dir_) / "targets";
  const auto& roles_cfg = config_.at("roles").as_object();
  const auto& days = config_.at("expires_days").as_object();
  auto days_of = [&](const std::string& role) { return static_cast<int>(days.at(role).to_number<std::int64_t>()); };
  const bool consistent = config_.at("consistent_snapshot").as_bool();
  PublishReport report;
  std::vector<std::pair<fs::path, std::string>> writes;  // written in this order: timestamp last

  // What was published before (the latest of each role).
  auto prev_ts = published_signed(meta_dir / "timestamp.json");
  auto prev_snapshot = published_signed(meta_dir / "snapshot.json");
  auto prev_targets = published_signed(meta_dir / "targets.json");
  auto prev_mitigations = published_signed(meta_dir / (std::string(kMitigationsRole) + ".json"));
  auto prev_root = published_signed(meta_dir / "root.json");
  auto version_of = [](const std::optional<json::object>& s) -> std::int64_t {
    return s ? s->at("version").to_number<std::int64_t>() : 0;
  };

  // Root.
  json::object root_keys, root_roles;
  for (const char* r : {"root", "timestamp", "snapshot", "targets"}) {
    json::object role_entry;
    role_keys_from_config(roles_cfg.at(r).as_object(), root_keys, role_entry);
    root_roles[r] = std::move(role_entry);
  }
  bool root_changed = !prev_root || prev_root->at("keys") != json::value(root_keys) ||
                      prev_root->at("roles") != json::value(root_roles) ||
                      prev_root->at("consistent_snapshot").as_bool() != consistent || expiring(*prev_root, now, days_of("root"));
  json::object root_signed = prev_root ? *prev_root : json::object{};
  if (root_changed) {
    root_signed = json::object{{"_type", "root"},
                               {"spec_version", "1.0.31"},
                               {"version", version_of(prev_root) + 1},
                               {"expires", expiry(now, days_of("root"))},
                               {"consistent_snapshot", consistent},
                               {"keys", root_keys},
                               {"roles", root_roles}};
    // A new root is signed by the new root keys and, for the rotation to verify, the old ones.
    auto new_signers = signers_for(keys, root_roles.at("root").as_object(), "root");
    if (!new_signers) return new_signers.error();
    std::vector<const SigningKey*> all = *new_signers;
    if (prev_root) {
      auto old_signers = signers_for(keys, prev_root->at("roles").as_object().at("root").as_object(), "root (previous keys)");
      if (!old_signers) return old_signers.error();
      for (const auto* k : *old_signers) {
        if (std::find(all.begin(), all.end(), k) == all.end()) all.push_back(k);
      }
    }
    auto text = sign_metadata(root_signed, all);
    auto v = root_signed.at("version").to_number<std::int64_t>();
    writes.emplace_back(meta_dir / (std::to_string(v) + ".root.json"), text);
    writes.emplace_back(meta_dir / "root.json", text);
    report.signed_roles.push_back("root");
  }
  report.versions["root"] = root_signed.at("version").to_number<std::int64_t>();

  // The delegated mitigations role: the staged manifests.
  json::object target_entries;
  std::map<std::string, std::string> target_bytes;  // target path -> bytes
  std::error_code ec;
  // Sorted: the order of targets in the signed metadata must not depend on the filesystem.
  std::vector<fs::path> staged;
  for (const auto& e : fs::directory_iterator(fs::path(dir_) / "staged" / "mitigations", ec)) {
    if (e.path().extension() == ".json") staged.push_back(e.path());
  }
  std::sort(staged.begin(), staged.end());
  for (const auto& file : staged) {
    auto text = json_input::read_file_capped(file.string(), limits::kManifestBytes);
    if (!text) return text.error();
    auto m = parse_manifest(file.string(), *text);  // what is published is valid
    if (!m) return m.error();
    auto path = "mitigations/" + file.filename().string();
    target_entries[path] = json::object{{"length", text->size()}, {"hashes", json::object{{"sha256", sha256_hex(*text)}}}};
    target_bytes[path] = std::move(*text);
  }
  if (ec) return make_error(Errc::io, dir_ + "/staged/mitigations: " + ec.message());

  json::object deleg_keys, deleg_role;
  role_keys_from_config(roles_cfg.at(kMitigationsRole).as_object(), deleg_keys, deleg_role);
  auto sign_role = [&](const std::string& role, const json::object& signed_value,
                       const json::object& role_keys) -> Result<std::string> {
    auto signers = signers_for(keys, role_keys, role);
    if (!signers) return signers.error();
    report.signed_roles.push_back(role);
    return sign_metadata(signed_value, *signers);
  };
  auto emit_versioned = [&](const std::string& role, std::int64_t version, const std::string& text) {
    writes.emplace_back(meta_dir / (std::to_string(version) + "." + role + ".json"), text);
    writes.emplace_back(meta_dir / (role + ".json"), text);
  };

  std::int64_t mitigations_version = version_of(prev_mitigations);
  // Keys of a delegated role are in its delegator; a key change there means a new targets role,
  // and the delegated role is re-signed by the new keys.
  json::array deleg_roles{json::object{{"name", kMitigationsRole},
                                       {"keyids", deleg_role.at("keyids")},
                                       {"threshold", deleg_role.at("threshold")},
                                       {"terminating", true},
                                       {"paths", json::array{kMitigationsPattern}}}};
  json::object delegations{{"keys", deleg_keys}, {"roles", deleg_roles}};
  bool targets_changed = !prev_targets || prev_targets->at("delegations") != json::value(delegations) ||
                         expiring(*prev_targets, now, days_of("targets"));
  bool mitigations_changed = !prev_mitigations || prev_mitigations->at("targets") != json::value(target_entries) ||
                             expiring(*prev_mitigations, now, days_of(kMitigationsRole)) ||
                             prev_targets->at("delegations") != json::value(delegations);
  if (mitigations_changed) {
    json::object s{{"_type", "targets"},
                   {"spec_version", "1.0.31"},
                   {"version", ++mitigations_version},
                   {"expires", expiry(now, days_of(kMitigationsRole))},
                   {"targets", target_entries}};
    auto text = sign_role(kMitigationsRole, s, deleg_role);
    if (!text) return text.error();
    emit_versioned(kMitigationsRole, mitigations_version, *text);
  }
  report.versions[kMitigationsRole] = mitigations_version;

  std::int64_t targets_version = version_of(prev_targets);
  if (targets_changed) {
    json::object s{{"_type", "targets"},
                   {"spec_version", "1.0.31"},
                   {"version", ++targets_version},
                   {"expires", expiry(now, days_of("targets"))},
                   {"targets", json::object{}},
                   {"delegations", delegations}};
    auto text = sign_role("targets", s, root_roles.at("targets").as_object());
    if (!text) return text.error();
    emit_versioned("targets", targets_version, *text);
  }
  report.versions["targets"] = targets_version;

  json::object snapshot_meta{{"targets.json", json::object{{"version", targets_version}}},
                             {std::string(kMitigationsRole) + ".json", json::object{{"version", mitigations_version}}}};
  std::int64_t snapshot_version = version_of(prev_snapshot);
  std::string snapshot_text;
  if (!prev_snapshot || prev_snapshot->at("meta") != json::value(snapshot_meta) || root_changed ||
      expiring(*prev_snapshot, now, days_of("snapshot"))) {
    json::object s{{"_type", "snapshot"},
                   {"spec_version", "1.0.31"},
                   {"version", ++snapshot_version},
                   {"expires", expiry(now, days_of("snapshot"))},
                   {"meta", snapshot_meta}};
    auto text = sign_role("snapshot", s, root_roles.at("snapshot").as_object());
    if (!text) return text.error();
    snapshot_text = *text;
    emit_versioned("snapshot", snapshot_version, snapshot_text);
  } else {
    auto t = json_input::read_file_capped((meta_dir / "snapshot.json").string(), 16 * 1024 * 1024);
    if (!t) return t.error();
    snapshot_text = *t;
  }
  report.versions["snapshot"] = snapshot_version;

  // The timestamp is always new: a publish is a heartbeat clients can see.
  json::object ts{{"_type", "timestamp"},
                  {"spec_version", "1.0.31"},
                  {"version", version_of(prev_ts) + 1},
                  {"expires", expiry(now, days_of("timestamp"))},
                  {"meta", json::object{{"snapshot.json", json::object{{"version", snapshot_version},
                                                                        {"length", snapshot_text.size()},
                                                                        {"hashes", json::object{{"sha256", sha256_hex(snapshot_text)}}}}}}}};
  auto ts_text = sign_role("timestamp", ts, root_roles.at("timestamp").as_object());
  if (!ts_text) return ts_text.error();
  report.versions["timestamp"] = ts.at("version").to_number<std::int64_t>();

  // Targets first, then metadata bottom-up, the timestamp last: a client that reads during a
  // publish sees either the old or the new consistent set.
  for (const auto& [path, bytes] : target_bytes) {
    auto p = fs::path(path);
    auto hashed = targets_dir / p.parent_path() / (sha256_hex(bytes) + "." + p.filename().string());
    if (auto ok = write_file(hashed, bytes); !ok) return ok.error();
    if (auto ok = write_file(targets_dir / p, bytes); !ok) return ok.error();
  }
  for (const auto& [path, text] : writes) {
    if (auto ok = write_file(path, text); !ok) return ok.error();
  }
  if (auto ok = write_file(meta_dir / "timestamp.json", *ts_text); !ok) return ok.error();
  return report;
}

}  // namespace mitigd::feed
