#pragma once
// The operators' policy directory (a git checkout): org.json and servers/<host>.json.
// Enabled = organisation AND server; blocked = union of both lists; dry-run wins over enforce.
#include "policies/error.hpp"
#include "policies/time_util.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mitigd {

enum class Mode { enforce, dry_run };
const char* to_string(Mode mode);

struct BlockEntry {
  std::string id;
  std::string reason;
  std::string by;                    // who asked for it (free text, optional)
  std::optional<std::string> until;  // as written: "2026-12-31" or a UTC timestamp
  std::optional<SysSeconds> until_time;
};

struct PolicyFile {
  std::string file;  // path, for messages
  bool present = false;
  bool mitigations_enabled = true;
  std::optional<Mode> mode;
  std::optional<bool> auto_revert;
  std::optional<bool> revert_on_feed_expiry;  // "on_feed_expiry": "keep" (default) | "revert"
  std::vector<BlockEntry> blocked;
  // "rule_modes": {"M1": "detect"}: the mode of every request rule of a mitigation, over what its
  // manifest says; promoting a rule to enforce is changing (or removing) one line.
  std::map<std::string, std::string> rule_modes;
};

struct Policy {
  std::string host;
  PolicyFile org;
  PolicyFile server;
  // Likely mistakes that change nothing by themselves but silently drop policy (a server file for
  // another spelling of this host): said loudly by plan, status and the daemon, and audited.
  std::vector<std::string> warnings;

  bool enabled() const { return org.mitigations_enabled && server.mitigations_enabled; }
  Mode mode() const;
  bool auto_revert() const;
  // Whether mitigations from an expired feed are reverted (default: they stay in force).
  bool revert_on_feed_expiry() const;
  // The entry that blocks `id` at time `now`, org first; nullptr when none does.
  // The rule mode the policy sets for a mitigation ("detect" | "enforce"), server first; empty: none.
  std::string rule_mode(const std::string& id) const;
  const BlockEntry* blocking_entry(std::string_view id, SysSeconds now, std::string* level) const;
};

Result<PolicyFile> parse_policy_file(const std::string& file, std::string_view text);
// Loads <dir>/org.json (required) and <dir>/servers/<host>.json (optional).
Result<Policy> load_policy_dir(const std::string& dir, const std::string& host);
// Every file of a policy repository, for `mitigctl validate`: all errors, one per line.
std::vector<Error> validate_policy_dir(const std::string& dir);

}  // namespace mitigd
