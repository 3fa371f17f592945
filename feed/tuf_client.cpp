#include "feed/tuf_client.hpp"

#include "policies/atomic_file.hpp"

#include "policies/json_input.hpp"

#include <filesystem>
#include <utility>
#include <fstream>
#include <unistd.h>

namespace mitigd::feed {
namespace fs = std::filesystem;

std::string url_encode_segment(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string join_url(const std::string& base, const std::string& rest) {
  if (!base.empty() && base.back() == '/') return base + rest;
  return base + "/" + rest;
}

namespace {

Result<void> rollback_error(const std::string& what, std::int64_t got, std::int64_t trusted) {
  return make_error(Errc::invalid_input, what + ": version " + std::to_string(got) + " is older than the trusted version " +
                                             std::to_string(trusted) + " (rollback attack?)");
}

// Bytes of a role that trusted metadata refers to: length and hashes as the referrer lists them,
// a threshold of the role's keys, and (when `version_must_match`) exactly the version named.
// Local copies are loaded without the version match, so they can still serve rollback checks.
template <class Parse>
auto verify_role_bytes(std::string_view raw, const std::string& where, std::string_view type, const MetaFile& meta,
                       const std::map<std::string, PublicKey>& keys, const RoleKeys& role, const std::string& role_name,
                       const std::string& referrer, bool version_must_match, Parse parse)
    -> decltype(parse(std::declval<const Envelope&>())) {
  if (auto ok = check_hashes(raw, meta.hashes, meta.length, where, false); !ok) return ok.error();
  auto env = parse_envelope(raw, where, type);
  if (!env) return env.error();
  if (auto ok = verify_threshold(*env, keys, role, role_name); !ok) return ok.error();
  auto parsed = parse(*env);
  if (!parsed) return parsed.error();
  if (version_must_match && parsed->version != meta.version) {
    return make_error(Errc::invalid_input, where + ": version " + std::to_string(parsed->version) + " is not the version " +
                                               std::to_string(meta.version) + " " + referrer + " names (mix-and-match?)");
  }
  return parsed;
}

}  // namespace

std::string DirectoryMetadataStore::path_of(const std::string& name) const {
  // Delegated roles are stored as ROLE.json like the top-level ones; whatever is loaded back is
  // verified again against the delegator in hand, so sharing a file name cannot leak trust.
  std::string role = name;
  if (name.rfind("delegated/", 0) == 0) role = name.substr(10);  // a role name may itself hold '/'

  return (fs::path(dir_) / (url_encode_segment(role) + ".json")).string();
}

std::optional<std::string> DirectoryMetadataStore::load(const std::string& name) {
  auto r = json_input::read_file_capped(path_of(name), 16 * 1024 * 1024);
  if (!r) return std::nullopt;
  return *r;
}

void DirectoryMetadataStore::save(const std::string& name, std::int64_t, const std::string& raw) {
  if (auto w = write_file_atomically(path_of(name), raw, 0644); !w) throw std::runtime_error(w.error().message);
}

void DirectoryMetadataStore::remove(const std::string& name) {
  std::error_code ec;
  fs::remove(path_of(name), ec);
}

Updater::Updater(Fetcher& fetcher, TrustedMetadataStore& store, UpdaterConfig config, SysSeconds reference_time)
    : fetcher_(fetcher), store_(store), config_(std::move(config)), now_(reference_time) {}

std::optional<SysSeconds> Updater::expires() const {
  if (!root_) return std::nullopt;
  auto e = root_->expires;
  if (timestamp_) e = std::min(e, timestamp_->expires);
  if (snapshot_) e = std::min(e, snapshot_->expires);
  if (targets_) e = std::min(e, targets_->expires);
  return e;
}

Result<void> Updater::check_fresh(const Common& c, const std::string& what) const {
  if (c.expired(now_)) {
    return make_error(Errc::invalid_input, what + " expired at " + format_utc(c.expires) +
                                               " (the feed is stale, or frozen by an attacker)");
  }
  return {};
}

Result<FetchResponse> Updater::get(const std::string& url, std::size_t max_bytes, const FetchRequest* conditional) {
  FetchRequest req;
  if (conditional) req = *conditional;
  req.url = url;
  req.max_bytes = max_bytes;
  return fetcher_.fetch(req);
}

std::string Updater::role_url(const std::string& role, std::int64_t version) const {
  auto name = url_encode_segment(role) + ".json";
  if (root_->consistent_snapshot) name = std::to_string(version) + "." + name;
  return join_url(config_.metadata_url, name);
}

Result<void> Updater::load_trusted(const std::optional<std::string>& bootstrap_root) {
  auto verify_root_bytes = [&](const std::string& raw, const std::string& where) -> Result<Root> {
    auto env = parse_envelope(raw, where, "root");
    if (!env) return env.error();
    auto root = parse_root(*env);
    if (!root) return root.error();
    if (auto ok = verify_threshold(*env, root->keys, root->roles.at("root"), "root"); !ok) return ok.error();
    return root;
  };
  std::optional<Root> stored, provisioned;
  if (auto raw = store_.load("root")) {
    auto r = verify_root_bytes(*raw, "trusted root.json");
    if (!r) return r.error();
    stored = std::move(*r);
  }
  if (bootstrap_root) {
    auto r = verify_root_bytes(*bootstrap_root, "provisioned root");
    if (!r) return r.error();
    provisioned = std::move(*r);
  }
  if (!stored && !provisioned) {
    return make_error(Errc::not_found, "no trusted root: provision one (feed.trusted_root, or `init ROOT`)");
  }
  if (!stored || (provisioned && provisioned->version > stored->version)) {
    store_.save("root", provisioned->version, *bootstrap_root);
    root_ = std::move(provisioned);
  } else {
    root_ = std::move(stored);
  }
  // The rest is optional; a stored role that no longer verifies is simply not trusted.
  if (auto raw = store_.load("timestamp")) {
    auto env = parse_envelope(*raw, "trusted timestamp.json", "timestamp");
    if (env && verify_threshold(*env, root_->keys, root_->roles.at("timestamp"), "timestamp")) {
      if (auto t = parse_timestamp(*env)) timestamp_ = std::move(*t);
    }
  }
  if (timestamp_) (void)load_local_snapshot();
  if (snapshot_) (void)load_local_targets();
  return {};
}

Result<void> Updater::refresh() {
  changed_ = false;
  if (!root_) {
    if (auto ok = load_trusted(); !ok) return ok;
  }
  if (auto ok = update_root(); !ok) return ok;
  if (auto ok = update_timestamp(); !ok) return ok;
  if (auto ok = update_snapshot(); !ok) return ok;
  return update_top_targets();
}

Result<void> Updater::update_root() {
  const auto old_timestamp_keys = root_->roles.at("timestamp").keyids;
  const auto old_snapshot_keys = root_->roles.at("snapshot").keyids;
  for (std::size_t i = 0; i < config_.limits.max_root_rotations; ++i) {
    const auto next = root_->version + 1;
    auto fetched = get(join_url(config_.metadata_url, std::to_string(next) + ".root.json"), config_.limits.root_bytes);
    if (!fetched) {
      if (fetched.error().code == Errc::not_found) break;
      return fetched.error();
    }
    const auto where = std::to_string(next) + ".root.json";
    auto env = parse_envelope(fetched->body, where, "root");
    if (!env) return env.error();
    // Signed by a threshold of the trusted root's keys and of its own.
    if (auto ok = verify_threshold(*env, root_->keys, root_->roles.at("root"), "trusted root"); !ok) return ok;
    auto root = parse_root(*env);
    if (!root) return root.error();
    if (auto ok = verify_threshold(*env, root->keys, root->roles.at("root"), "new root"); !ok) return ok;
    if (root->version != next) {
      return make_error(Errc::invalid_input, where + ": signed.version is " + std::to_string(root->version) +
                                                 ", expected " + std::to_string(next));
    }
    store_.save("root", root->version, fetched->body);
    root_ = std::move(*root);
    changed_ = true;
  }
  if (auto ok = check_fresh(*root_, "root.json (version " + std::to_string(root_->version) + ")"); !ok) return ok;
  // New timestamp or snapshot keys: what they signed before is no longer trusted (spec 5.3.11).
  if (root_->roles.at("timestamp").keyids != old_timestamp_keys || root_->roles.at("snapshot").keyids != old_snapshot_keys) {
    store_.remove("timestamp");
    store_.remove("snapshot");
    timestamp_.reset();
    snapshot_.reset();
  }
  return {};
}

Result<void> Updater::update_timestamp() {
  // A conditional request: an unchanged feed costs one small 304 answer.
  FetchRequest conditional;
  if (timestamp_) {
    if (auto v = store_.timestamp_validators()) {
      if (!v->first.empty()) conditional.if_none_match = v->first;
      if (!v->second.empty()) conditional.if_modified_since = v->second;
    }
  }
  auto fetched = get(join_url(config_.metadata_url, "timestamp.json"), config_.limits.timestamp_bytes, &conditional);
  if (!fetched) return fetched.error();
  if (fetched->not_modified) {
    if (timestamp_) return check_fresh(*timestamp_, "timestamp.json");
    fetched = get(join_url(config_.metadata_url, "timestamp.json"), config_.limits.timestamp_bytes);
    if (!fetched) return fetched.error();
  }
  auto env = parse_envelope(fetched->body, "timestamp.json", "timestamp");
  if (!env) return env.error();
  if (auto ok = verify_threshold(*env, root_->keys, root_->roles.at("timestamp"), "timestamp"); !ok) return ok;
  auto ts = parse_timestamp(*env);
  if (!ts) return ts.error();
  if (timestamp_) {
    if (ts->version < timestamp_->version) return rollback_error("timestamp.json", ts->version, timestamp_->version);
    if (ts->snapshot.version < timestamp_->snapshot.version) {
      return rollback_error("timestamp.json: meta.snapshot.json", ts->snapshot.version, timestamp_->snapshot.version);
    }
    if (ts->version == timestamp_->version) {
      // Nothing new: keep the trusted one (whose expiry is checked all the same).
      return check_fresh(*timestamp_, "timestamp.json");
    }
  }
  if (auto ok = check_fresh(*ts, "timestamp.json"); !ok) return ok;
  store_.save("timestamp", ts->version, fetched->body);
  // Last-Modified has one-second resolution: a file replaced within the second it was served
  // would look unchanged. It is used only when clearly older than the answer's Date (RFC 9110's
  // weak-validator rule); an ETag is always used.
  std::string last_modified;
  auto lm = parse_http_date(fetched->last_modified);
  auto date = parse_http_date(fetched->date);
  if (lm && date && *date - *lm >= 2) last_modified = fetched->last_modified;
  if (!fetched->etag.empty() || !last_modified.empty()) {
    store_.set_timestamp_validators(std::pair{fetched->etag, last_modified});
  } else {
    store_.set_timestamp_validators(std::nullopt);
  }
  timestamp_ = std::move(*ts);
  changed_ = true;
  return {};
}

Result<void> Updater::load_local_snapshot() {
  snapshot_.reset();
  auto raw = store_.load("snapshot");
  if (!raw) return make_error(Errc::not_found, "no trusted snapshot");
  // Our own verified copy: signatures are checked again, but not the hash the (possibly newer)
  // trusted timestamp lists. An older snapshot must still load, because the next one is checked
  // against it for rollback (a timestamp can be stored by a run whose snapshot download failed).
  MetaFile any_version;
  auto snap = verify_role_bytes(*raw, "trusted snapshot.json", "snapshot", any_version, root_->keys,
                                root_->roles.at("snapshot"), "snapshot", "the timestamp", false, parse_snapshot);
  if (!snap) return snap.error();
  snapshot_ = std::move(*snap);
  return {};
}

Result<void> Updater::update_snapshot() {
  const auto& meta = timestamp_->snapshot;
  if (!snapshot_) (void)load_local_snapshot();
  if (snapshot_ && snapshot_->version == meta.version) return check_fresh(*snapshot_, "snapshot.json");
  auto fetched = get(role_url("snapshot", meta.version), meta.length ? static_cast<std::size_t>(*meta.length)
                                                                      : config_.limits.snapshot_bytes);
  if (!fetched) return fetched.error();
  auto snap = verify_role_bytes(fetched->body, "snapshot.json", "snapshot", meta, root_->keys, root_->roles.at("snapshot"),
                                "snapshot", "the timestamp", true, parse_snapshot);
  if (!snap) return snap.error();
  if (snapshot_) {
    for (const auto& [name, old] : snapshot_->meta) {
      auto it = snap->meta.find(name);
      if (it == snap->meta.end()) {
        return make_error(Errc::invalid_input, "snapshot.json: " + name + " is no longer listed (rollback attack?)");
      }
      if (it->second.version < old.version) return rollback_error("snapshot.json: meta." + name, it->second.version, old.version);
    }
  }
  if (auto ok = check_fresh(*snap, "snapshot.json"); !ok) return ok;
  store_.save("snapshot", snap->version, fetched->body);
  snapshot_ = std::move(*snap);
  delegated_.clear();
  changed_ = true;
  return {};
}

Result<void> Updater::load_local_targets() {
  targets_.reset();
  auto raw = store_.load("targets");
  if (!raw) return make_error(Errc::not_found, "no trusted targets");
  auto t = verify_role_bytes(*raw, "trusted targets.json", "targets", snapshot_->meta.at("targets.json"), root_->keys,
                             root_->roles.at("targets"), "targets", "the snapshot", false, parse_targets);
  if (!t) return t.error();
  targets_ = std::move(*t);
  return {};
}

Result<void> Updater::update_top_targets() {
  const auto& meta = snapshot_->meta.at("targets.json");
  if (!targets_ || targets_->version != meta.version) (void)load_local_targets();
  if (targets_ && targets_->version == meta.version) return check_fresh(*targets_, "targets.json");
  auto fetched = get(role_url("targets", meta.version),
                     meta.length ? static_cast<std::size_t>(*meta.length) : config_.limits.targets_bytes);
  if (!fetched) return fetched.error();
  auto t = verify_role_bytes(fetched->body, "targets.json", "targets", meta, root_->keys, root_->roles.at("targets"),
                             "targets", "the snapshot", true, parse_targets);
  if (!t) return t.error();
  if (auto ok = check_fresh(*t, "targets.json"); !ok) return ok;
  store_.save("targets", t->version, fetched->body);
  targets_ = std::move(*t);
  delegated_.clear();
  changed_ = true;
  return {};
}

Result<const Targets*> Updater::load_delegated(const std::string& parent, const DelegatedRole& role,
                                               const std::map<std::string, PublicKey>& keys) {
  const auto cache_key = parent + "/" + role.name;
  if (auto it = delegated_.find(cache_key); it != delegated_.end()) return &it->second;
  const auto file = role.name + ".json";
  auto meta_it = snapshot_->meta.find(file);
  if (meta_it == snapshot_->meta.end()) {
    return make_error(Errc::not_found, "snapshot.json does not list " + file + ", delegated by " + parent);
  }
  const auto& meta = meta_it->second;
  const auto where = file + " (delegated by " + parent + ")";
  auto accept = [&](const std::string& raw, bool fetched) -> Result<Targets> {
    auto t = verify_role_bytes(raw, where, "targets", meta, keys, role.keys, role.name, "the snapshot", true, parse_targets);
    if (!t) return t.error();
    if (auto ok = check_fresh(*t, where); !ok) return ok.error();
    if (fetched) store_.save("delegated/" + role.name, t->version, raw);
    return t;
  };
  std::optional<Targets> verified;
  if (auto local = store_.load("delegated/" + role.name)) {
    if (auto t = accept(*local, false)) verified = std::move(*t);
  }
  if (!verified) {
    auto fetched = get(role_url(role.name, meta.version),
                       meta.length ? static_cast<std::size_t>(*meta.length) : config_.limits.targets_bytes);
    if (!fetched) return fetched.error();
    auto t = accept(fetched->body, true);
    if (!t) return t.error();
    verified = std::move(*t);
    changed_ = true;
  }
  auto [it, _] = delegated_.emplace(cache_key, std::move(*verified));
  return &it->second;
}

}  // namespace mitigd::feed
