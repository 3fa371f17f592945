#pragma once
// TUF 1.0 metadata: the signed envelope and the four top-level roles plus delegations, parsed
// from untrusted bytes. Unknown fields are tolerated (the specification requires it) but they
// stay part of the signed bytes, because signatures are checked on the canonical form of the
// "signed" value exactly as received.
#include "feed/tuf_keys.hpp"
#include "policies/time_util.hpp"

#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mitigd::feed {

struct RoleKeys {
  std::vector<std::string> keyids;
  std::int64_t threshold = 1;
};

struct MetaFile {
  std::int64_t version = 0;
  std::optional<std::int64_t> length;
  std::map<std::string, std::string> hashes;  // algorithm -> hex
};

struct TargetFile {
  std::string path;
  std::int64_t length = 0;
  std::map<std::string, std::string> hashes;
};

struct DelegatedRole {
  std::string name;
  RoleKeys keys;
  bool terminating = false;
  std::vector<std::string> paths;
  std::vector<std::string> path_hash_prefixes;
  bool matches(std::string_view target_path) const;
};

// TAP 15 succinct hashed-bin delegations: 2^bit_length bins named NAME_PREFIX-HEX, one per
// range of sha256(target path); every bin has the same keys and threshold.
struct SuccinctRoles {
  RoleKeys keys;
  int bit_length = 1;
  std::string name_prefix;
  std::string role_for(std::string_view target_path) const;
  bool is_bin(std::string_view role_name) const;  // a name this delegation can produce
};

struct Delegations {
  std::map<std::string, PublicKey> keys;
  std::vector<DelegatedRole> roles;        // or:
  std::optional<SuccinctRoles> succinct;   // exactly one of the two is used
};

struct Common {
  std::string spec_version;
  std::int64_t version = 0;
  SysSeconds expires{};
  bool expired(SysSeconds now) const { return now >= expires; }
};

struct Root : Common {
  bool consistent_snapshot = false;
  std::map<std::string, PublicKey> keys;
  std::map<std::string, RoleKeys> roles;  // root, timestamp, snapshot, targets
};

struct Timestamp : Common {
  MetaFile snapshot;
};

struct Snapshot : Common {
  std::map<std::string, MetaFile> meta;  // "targets.json", "ROLE.json"
};

struct Targets : Common {
  std::map<std::string, TargetFile> targets;
  std::optional<Delegations> delegations;
};

// The envelope: {"signed": {...}, "signatures": [{"keyid", "sig"}]}. `where` names the file in
// every error ("timestamp.json").
struct Envelope {
  std::string where;
  std::string type;       // signed._type
  boost::json::value signed_value;
  std::string canonical;  // the bytes the signatures cover
  std::vector<std::pair<std::string, std::string>> signatures;  // keyid, hex signature
};

Result<Envelope> parse_envelope(std::string_view raw, const std::string& where, std::string_view expected_type);

// Counts valid signatures by distinct keys of the role (a key listed twice, or signing twice,
// counts once) and fails below the threshold, naming the role and the count.
Result<void> verify_threshold(const Envelope& e, const std::map<std::string, PublicKey>& keys,
                              const RoleKeys& role, const std::string& role_name);

Result<Root> parse_root(const Envelope& e);
Result<Timestamp> parse_timestamp(const Envelope& e);
Result<Snapshot> parse_snapshot(const Envelope& e);
Result<Targets> parse_targets(const Envelope& e);

// Hash and length check of received bytes against trusted metadata. At least one hash of a
// supported algorithm (sha256, sha512) must be listed when `require_hash`; every listed supported
// hash must match.
Result<void> check_hashes(std::string_view bytes, const std::map<std::string, std::string>& hashes,
                          std::optional<std::int64_t> length, const std::string& what, bool require_hash);

// TUF path patterns: '/'-separated segments, the same number on both sides, each matched with
// shell wildcards ('*', '?', '[...]') that never cross a '/'.
bool path_pattern_matches(std::string_view pattern, std::string_view path);

}  // namespace mitigd::feed
