#pragma once
// The audit log's hash chain. Each record's hash is HMAC-SHA256(key, previous hash || the record's
// fields, length-prefixed). The key is kept outside the database, so someone who can edit the
// database file cannot recompute a consistent chain after changing, deleting, inserting or
// reordering rows; verify() names the first record that does not fit.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mitigd::state {

struct AuditEntry {
  std::string at;  // UTC timestamp; filled in when empty
  std::string event;  // applied, reverted, failed, drift_repaired, blocked, policy_changed...
  std::string mitigation_id;
  std::int64_t revision = 0;
  std::string run_id;
  std::string actor;    // "daemon", "mitigctl (uid 0)"...
  std::string message;  // one line for people
  std::string detail;   // JSON object with structured fields
};

struct AuditRecord : AuditEntry {
  std::int64_t seq = 0;
  std::string prev_hash;
  std::string hash;
};

struct ChainBreak {
  std::int64_t seq = 0;  // the first record that does not verify
  std::string why;
};

class AuditChain {
 public:
  explicit AuditChain(std::string key) : key_(std::move(key)) {}
  std::string hash(const std::string& prev_hash, std::int64_t seq, const AuditEntry& e) const;
  // Records in the order stored (by seq). Checks seq continuity, links and hashes.
  std::optional<ChainBreak> verify(const std::vector<AuditRecord>& records) const;
  static const std::string& genesis();

 private:
  std::string key_;
};

}  // namespace mitigd::state
