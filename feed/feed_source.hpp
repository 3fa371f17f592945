#pragma once
// The feed as the engine sees it: the manifests of the signed TUF feed, verified, with the feed's
// freshness. Online, it runs the TUF update; when the feed cannot be reached (or answers with
// something that does not verify) the last verified state stays in force, and the error and the
// age are recorded for status and metrics. Manifests are parsed only after their target hashes
// verify against trusted metadata.
#include "feed/fetcher.hpp"
#include "feed/manifest_source.hpp"
#include "feed/tuf_client.hpp"
#include "state/store.hpp"

#include <optional>
#include <string>

namespace mitigd::feed {

struct FeedSettings {
  std::string metadata_url;
  std::string targets_url;
  std::string trusted_root;  // file provisioned out of band
  std::string cache_dir;     // verified target files, by sha256
  std::string target_prefix = "mitigations/";
  HttpOptions http;
};

struct FeedStatus {
  bool online_attempted = false;
  bool refreshed = false;  // the online update succeeded
  std::string error;       // of the last attempt, empty when it succeeded
  std::optional<SysSeconds> last_success;
  std::optional<SysSeconds> expires;
  bool expired = false;
  std::map<std::string, std::int64_t> versions;
  std::size_t targets = 0;
};

// The state store as TUF's trusted metadata storage (exactly the bytes received).
class StoreMetadataStore : public TrustedMetadataStore {
 public:
  explicit StoreMetadataStore(state::Store& store) : store_(store) {}
  std::optional<std::string> load(const std::string& name) override { return store_.metadata_get(name); }
  void save(const std::string& name, std::int64_t version, const std::string& raw) override {
    store_.metadata_put(name, version, raw);
  }
  void remove(const std::string& name) override { store_.metadata_remove(name); }
  std::optional<std::pair<std::string, std::string>> timestamp_validators() override;
  void set_timestamp_validators(const std::optional<std::pair<std::string, std::string>>& v) override;

 private:
  state::Store& store_;
};

// The manifests parsed last time, by the target hashes they came from. When the trusted metadata
// names exactly the same target bytes, they are reused as they are: no reads, no parsing.
struct FeedMemo {
  std::map<std::string, std::string> sha256_by_path;
  ManifestSet manifests;
};

// online: run the TUF update first (network); otherwise only what is already trusted is used.
// Errors only when there is no verified state at all to fall back to.
Result<ManifestSet> load_feed(const FeedSettings& settings, state::Store& store, Fetcher& fetcher, bool online,
                              SysSeconds now, FeedStatus& status, FeedMemo* memo = nullptr);

// Facts kept in the store for `mitigctl status` and the metrics.
FeedStatus read_feed_status(state::Store& store, SysSeconds now);

}  // namespace mitigd::feed
