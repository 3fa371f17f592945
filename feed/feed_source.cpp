#include "feed/feed_source.hpp"

#include "policies/json_input.hpp"
#include "policies/limits.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace mitigd::feed {
namespace {

class OfflineFetcher : public Fetcher {
 public:
  Result<FetchResponse> fetch(const FetchRequest& r) override {
    return make_error(Errc::unavailable, r.url + ": not fetched (offline: only verified local state is used)");
  }
};

// Only what changed is written: an unchanged feed polled every few minutes costs no disk write
// beyond the last-success time.
void set_if_changed(state::Store& store, const std::string& key, const std::string& value) {
  if (store.fact_get(key) != value) store.fact_set(key, value);
}

void record_status(state::Store& store, const FeedStatus& s) {
  set_if_changed(store, "feed.last_error", s.error);
  if (s.last_success) set_if_changed(store, "feed.last_success", format_utc(*s.last_success));
  if (s.expires) set_if_changed(store, "feed.expires", format_utc(*s.expires));
  std::string versions;
  for (const auto& [role, v] : s.versions) versions += (versions.empty() ? "" : " ") + role + "=" + std::to_string(v);
  set_if_changed(store, "feed.versions", versions);
  set_if_changed(store, "feed.targets", std::to_string(s.targets));
}

}  // namespace

std::optional<std::pair<std::string, std::string>> StoreMetadataStore::timestamp_validators() {
  auto etag = store_.fact_get("feed.timestamp_etag");
  auto modified = store_.fact_get("feed.timestamp_last_modified");
  if (!etag && !modified) return std::nullopt;
  return std::pair{etag.value_or(""), modified.value_or("")};
}

void StoreMetadataStore::set_timestamp_validators(const std::optional<std::pair<std::string, std::string>>& v) {
  store_.fact_set("feed.timestamp_etag", v ? v->first : "");
  store_.fact_set("feed.timestamp_last_modified", v ? v->second : "");
}

FeedStatus read_feed_status(state::Store& store, SysSeconds now) {
  FeedStatus s;
  s.error = store.fact_get("feed.last_error").value_or("");
  if (auto v = store.fact_get("feed.last_success")) s.last_success = parse_utc_timestamp(*v);
  if (auto v = store.fact_get("feed.expires")) s.expires = parse_utc_timestamp(*v);
  s.expired = s.expires && now >= *s.expires;
  if (auto v = store.fact_get("feed.targets")) s.targets = std::strtoull(v->c_str(), nullptr, 10);
  if (auto v = store.fact_get("feed.versions")) {
    std::size_t start = 0;
    while (start < v->size()) {
      auto end = v->find(' ', start);
      auto item = v->substr(start, end == std::string::npos ? std::string::npos : end - start);
      auto eq = item.find('=');
      if (eq != std::string::npos) s.versions[item.substr(0, eq)] = std::strtoll(item.c_str() + eq + 1, nullptr, 10);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return s;
}

Result<ManifestSet> load_feed(const FeedSettings& settings, state::Store& store, Fetcher& fetcher, bool online,
                              SysSeconds now, FeedStatus& status, FeedMemo* memo) {
  status = read_feed_status(store, now);
  std::optional<std::string> bootstrap;
  if (!settings.trusted_root.empty()) {
    auto r = json_input::read_file_capped(settings.trusted_root, 512 * 1024);
    if (!r) return r.error();
    bootstrap = std::move(*r);
  }
  StoreMetadataStore trusted(store);
  OfflineFetcher offline;
  UpdaterConfig config{settings.metadata_url, settings.targets_url, {}};
  std::optional<Updater> holder;
  holder.emplace(online ? fetcher : static_cast<Fetcher&>(offline), trusted, config, now);
  if (auto ok = holder->load_trusted(bootstrap); !ok) return ok.error();

  status.online_attempted = online;
  if (online) {
    auto ok = holder->refresh();
    if (ok) {
      status.refreshed = true;
      status.error.clear();
      status.last_success = now;
    } else {
      status.error = ok.error().message;
      // Whatever verified before stays trusted: reload it from the store, offline.
      holder.emplace(offline, trusted, config, now);
      if (auto lt = holder->load_trusted(); !lt) return lt.error();
    }
  }
  Updater& updater = *holder;
  status.expires = updater.expires();
  status.expired = status.expires && now >= *status.expires;
  status.versions.clear();
  status.versions["root"] = updater.root().version;
  if (updater.timestamp()) status.versions["timestamp"] = updater.timestamp()->version;
  if (updater.snapshot()) status.versions["snapshot"] = updater.snapshot()->version;
  if (updater.targets()) status.versions["targets"] = updater.targets()->version;

  ManifestSet set;
  if (!updater.targets()) {
    record_status(store, status);
    if (!status.error.empty()) return make_error(Errc::unavailable, "feed never verified: " + status.error);
    return set;
  }
  auto targets = updater.all_targets();
  if (!targets) {
    status.error = targets.error().message;
    record_status(store, status);
    return targets.error();
  }
  // The targets used last time, by path. When a target of newer metadata cannot be had (the
  // mirror is down or serves bytes that do not match), the last verified revision of that path
  // stays in force instead of being dropped, which would revert it as withdrawn: a broken mirror
  // must not be able to switch protections off.
  std::map<std::string, std::string> previous, used;
  if (auto text = store.fact_get("feed.targets_in_force")) {
    boost::system::error_code ec;
    auto v = boost::json::parse(*text, ec);
    if (!ec && v.is_object()) {
      for (const auto& kv : v.as_object()) {
        if (kv.value().is_string()) previous[std::string(kv.key())] = std::string(kv.value().as_string());
      }
    }
  }
  auto note = [&](const std::string& message) {
    if (status.error.empty()) status.error = message;
  };
  if (memo && !memo->sha256_by_path.empty()) {
    std::map<std::string, std::string> named;
    for (const auto& t : *targets) {
      if (t.path.rfind(settings.target_prefix, 0) != 0) continue;
      auto h = t.hashes.find("sha256");
      named[t.path] = h == t.hashes.end() ? "" : h->second;
    }
    if (named == memo->sha256_by_path) {
      status.targets = memo->manifests.manifests.size();
      record_status(store, status);
      return memo->manifests;
    }
  }
  std::vector<std::pair<Manifest, std::string>> loaded;
  for (const auto& t : *targets) {
    if (t.path.rfind(settings.target_prefix, 0) != 0) continue;
    std::optional<std::string> bytes;
    std::string sha = t.hashes.count("sha256") ? t.hashes.at("sha256") : "";
    if (auto fresh = updater.download_target(t, settings.cache_dir)) {
      bytes = std::move(*fresh);
    } else {
      note(fresh.error().message);
      auto prev = previous.find(t.path);
      if (prev == previous.end()) continue;  // never verified: nothing to keep in force
      auto cached = json_input::read_file_capped(settings.cache_dir + "/" + prev->second, limits::kManifestBytes);
      if (!cached || !check_hashes(*cached, {{"sha256", prev->second}}, std::nullopt, t.path, true)) continue;
      bytes = std::move(*cached);
      sha = prev->second;
    }
    // Verified bytes only from here on.
    auto m = parse_manifest("feed:" + t.path, *bytes);
    if (!m) {
      // A signed but invalid manifest (a publisher's mistake) does not stop the others, and the
      // last verified good revision of the same target stays in force.
      note(m.error().message);
      auto prev = previous.find(t.path);
      std::optional<std::string> cached;
      if (prev != previous.end() && prev->second != sha) {
        if (auto c = json_input::read_file_capped(settings.cache_dir + "/" + prev->second, limits::kManifestBytes)) {
          cached = std::move(*c);
        }
        if (cached && !check_hashes(*cached, {{"sha256", prev->second}}, std::nullopt, t.path, true)) cached.reset();
      }
      auto good = cached ? parse_manifest("feed:" + t.path + " (last good version)", *cached) : Result<Manifest>(m.error());
      if (!good) {
        set.invalid.push_back({guess_manifest_id(*bytes, t.path), "feed:" + t.path, m.error().message});
        continue;
      }
      set.notes.push_back(m.error().message + "; the last verified good version stays in force");
      m = std::move(good);
      bytes = std::move(cached);
      sha = prev->second;
    }
    if (sha.empty()) sha = sha256_hex(*bytes);
    used[t.path] = sha;
    loaded.emplace_back(std::move(*m), sha);
  }
  std::sort(loaded.begin(), loaded.end(), [](const auto& a, const auto& b) { return a.first.id < b.first.id; });
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    // Two targets claiming one id: neither is trusted (which one the publisher meant is unknown).
    bool twin = (i > 0 && loaded[i].first.id == loaded[i - 1].first.id) ||
                (i + 1 < loaded.size() && loaded[i].first.id == loaded[i + 1].first.id);
    if (twin) {
      if (i == 0 || loaded[i].first.id != loaded[i - 1].first.id) {
        set.invalid.push_back({loaded[i].first.id, "feed", "two targets carry mitigation id " + loaded[i].first.id});
      }
      continue;
    }
    set.manifests.push_back(std::move(loaded[i].first));
    set.sha256.push_back(std::move(loaded[i].second));
  }
  status.targets = set.manifests.size();
  boost::json::object in_force;
  for (const auto& [path, sha] : used) in_force[path] = sha;
  set_if_changed(store, "feed.targets_in_force", boost::json::serialize(in_force));
  record_status(store, status);
  if (memo) {
    if (status.error.empty()) {
      memo->sha256_by_path = used;
      memo->manifests = set;
    } else {
      *memo = {};  // partial sets (a target kept from before) are rebuilt every time
    }
  }
  return set;
}

}  // namespace mitigd::feed
