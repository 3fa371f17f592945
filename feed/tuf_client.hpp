#pragma once
// The TUF client workflow (specification 1.0, section 5): root chain update with key rotation,
// timestamp, snapshot, top-level and delegated targets, then verified target downloads. One
// reference time per update; every download capped in size (trusted length, or a default cap).
// Trusted metadata is kept, exactly as received, through a small storage interface: the state
// store for the daemon, a directory for the conformance-suite client.
#include "feed/fetcher.hpp"
#include "feed/tuf_metadata.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mitigd::feed {

class TrustedMetadataStore {
 public:
  virtual ~TrustedMetadataStore() = default;
  // Names: "root", "timestamp", "snapshot", "targets", and "delegated/PARENT/ROLE".
  virtual std::optional<std::string> load(const std::string& name) = 0;
  virtual void save(const std::string& name, std::int64_t version, const std::string& raw) = 0;
  virtual void remove(const std::string& name) = 0;
  // HTTP validators (ETag, Last-Modified) of the last timestamp.json answer, for a conditional
  // request. A store that does not keep them (the default) makes every request unconditional.
  virtual std::optional<std::pair<std::string, std::string>> timestamp_validators() { return std::nullopt; }
  virtual void set_timestamp_validators(const std::optional<std::pair<std::string, std::string>>&) {}
};

// ROLE.json files in a directory (the layout the TUF conformance client protocol expects), and
// nothing else: harnesses compare its listing with the roles they expect.
class DirectoryMetadataStore : public TrustedMetadataStore {
 public:
  explicit DirectoryMetadataStore(std::string dir) : dir_(std::move(dir)) {}
  std::optional<std::string> load(const std::string& name) override;
  void save(const std::string& name, std::int64_t version, const std::string& raw) override;
  void remove(const std::string& name) override;

 private:
  std::string path_of(const std::string& name) const;
  std::string dir_;
};

struct UpdaterLimits {
  std::size_t max_root_rotations = 32;
  std::size_t max_delegations = 32;  // delegated roles loaded per search
  std::size_t root_bytes = 512 * 1024;
  std::size_t timestamp_bytes = 16 * 1024;
  std::size_t snapshot_bytes = 2 * 1024 * 1024;
  std::size_t targets_bytes = 8 * 1024 * 1024;
  std::size_t target_file_bytes = 4 * 1024 * 1024;
};

struct UpdaterConfig {
  std::string metadata_url;  // base URL of the metadata ("https://feed.example/metadata/")
  std::string targets_url;   // base URL of the target files
  UpdaterLimits limits;
};

class Updater {
 public:
  Updater(Fetcher& fetcher, TrustedMetadataStore& store, UpdaterConfig config, SysSeconds reference_time);

  // Loads the trusted root (and whatever else is stored) and checks it. Offline: no fetch.
  // `bootstrap_root`: bytes of a root provisioned out of band, used when the store has none
  // (or an older one).
  Result<void> load_trusted(const std::optional<std::string>& bootstrap_root = std::nullopt);
  // The full online update: root chain, timestamp, snapshot, top-level targets. On error, what
  // was trusted before stays trusted.
  Result<void> refresh();

  // Spec 5.6.7: preorder search through the delegation graph. nullopt: no role lists the path.
  Result<std::optional<TargetFile>> find_target(const std::string& path);
  // Every target path the trusted targets metadata (and delegations) resolves, each through
  // find_target so a delegation's path patterns and terminating flags apply.
  Result<std::vector<TargetFile>> all_targets();
  // Downloads (or takes from cache_dir, when not empty) the target and checks length and hashes.
  Result<std::string> download_target(const TargetFile& target, const std::string& cache_dir);

  const Root& root() const { return *root_; }
  const std::optional<Timestamp>& timestamp() const { return timestamp_; }
  const std::optional<Snapshot>& snapshot() const { return snapshot_; }
  const std::optional<Targets>& targets() const { return targets_; }
  // The earliest expiry of the trusted top-level metadata.
  std::optional<SysSeconds> expires() const;
  bool changed() const { return changed_; }  // a role got a new version in the last refresh

 private:
  Result<FetchResponse> get(const std::string& url, std::size_t max_bytes, const FetchRequest* conditional = nullptr);
  Result<void> update_root();
  Result<void> update_timestamp();
  Result<void> update_snapshot();
  Result<void> update_top_targets();
  Result<void> load_local_snapshot();
  Result<void> load_local_targets();
  // One step of a walk through the delegation graph: a role and the delegator whose keys it is
  // verified with (role null: the top-level targets).
  struct RoleVisit {
    std::string parent;
    const DelegatedRole* role;
    const std::map<std::string, PublicKey>* keys;
  };
  Result<const Targets*> load_role(const RoleVisit& v);
  Result<const Targets*> load_delegated(const std::string& parent, const DelegatedRole& role,
                                        const std::map<std::string, PublicKey>& keys);
  Result<void> check_fresh(const Common& c, const std::string& what) const;
  std::string role_url(const std::string& role, std::int64_t version) const;

  Fetcher& fetcher_;
  TrustedMetadataStore& store_;
  UpdaterConfig config_;
  SysSeconds now_;
  std::optional<Root> root_;
  std::optional<Timestamp> timestamp_;
  std::optional<Snapshot> snapshot_;
  std::optional<Targets> targets_;
  std::map<std::string, Targets> delegated_;  // "PARENT/ROLE" -> verified for that parent only
  bool changed_ = false;
};

// Percent-encodes a role name or target path segment for a URL or a file name.
std::string url_encode_segment(std::string_view s);
// base + "/" + rest, without doubling a trailing slash of base.
std::string join_url(const std::string& base, const std::string& rest);

}  // namespace mitigd::feed
