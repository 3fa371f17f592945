#pragma once
// The feed publisher behind `mitigctl feed`: keeps a TUF repository of mitigation manifests.
// Roles: root, timestamp, snapshot, targets (which only delegates, so its key can stay offline)
// and one delegated role, "mitigations", for the path pattern "mitigations/*". A publish re-signs
// only what changed or is within half its period of expiring, so an offline key is needed only
// when its role really has to change.
//
// Layout of a repository directory:
//   repo.json                   roles, public keys, thresholds, expiry periods (the publisher's config)
//   staged/mitigations/ID.json  the manifests to publish
//   metadata/                   published metadata (N.root.json, V.targets.json, timestamp.json...)
//   targets/mitigations/        published target files (HASH.ID.json, and ID.json)
#include "feed/tuf_keys.hpp"
#include "policies/error.hpp"
#include "policies/time_util.hpp"

#include <boost/json/object.hpp>
#include <map>
#include <string>
#include <vector>

namespace mitigd::feed {

// Signs `signed` with every key and returns the envelope as canonical JSON text.
std::string sign_metadata(const boost::json::object& signed_value, const std::vector<const SigningKey*>& keys);

// keygen: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (the TUF public key object).
Result<std::string> write_key_pair(const SigningKey& key, const std::string& prefix);
Result<SigningKey> read_private_key(const std::string& file);
Result<boost::json::value> read_public_key(const std::string& file);

struct RoleSetup {
  std::vector<std::string> public_key_files;
  int threshold = 1;
};

struct InitOptions {
  std::map<std::string, RoleSetup> roles;  // root, timestamp, snapshot, targets, mitigations
  bool consistent_snapshot = true;
  std::map<std::string, int> expires_days;  // per role; defaults below
};

struct PublishReport {
  std::map<std::string, std::int64_t> versions;  // role -> version now published
  std::vector<std::string> signed_roles;         // roles signed in this publish
};

class Repository {
 public:
  static Result<void> init(const std::string& dir, const InitOptions& options);
  static Result<Repository> open(const std::string& dir);

  // Validates each manifest before staging it as mitigations/ID.json.
  Result<std::vector<std::string>> add(const std::vector<std::string>& manifest_files);
  Result<std::vector<std::string>> remove(const std::vector<std::string>& ids);
  // Changes a role's keys or threshold (key rotation); the next publish signs a new root.
  Result<void> set_role(const std::string& role, const RoleSetup& setup);
  Result<PublishReport> publish(const std::vector<const SigningKey*>& keys, SysSeconds now);

  const std::string& dir() const { return dir_; }

 private:
  explicit Repository(std::string dir, boost::json::object config) : dir_(std::move(dir)), config_(std::move(config)) {}
  Result<void> save_config();
  std::string dir_;
  boost::json::object config_;
};

inline constexpr const char* kMitigationsRole = "mitigations";
inline constexpr const char* kMitigationsPattern = "mitigations/*";

}  // namespace mitigd::feed
