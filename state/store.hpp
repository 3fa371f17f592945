#pragma once
// The state store: one SQLite database (WAL) holding the ledger, the audit log, runs, failures,
// manifests seen and trusted feed metadata. Readers are never blocked (WAL); writers take the
// WriterLock first. Errors are StateError with a message naming the database.
#include "state/audit_chain.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace SQLite { class Database; }

namespace mitigd::state {

class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One action of one mitigation that mitigd changed, with what is needed to undo it.
struct LedgerRecord {
  std::int64_t row = 0;
  std::string mitigation_id;
  std::int64_t revision = 0;
  int action_index = 0;
  std::string kind;         // action kind
  std::string resource;     // what was changed: "nginx:M1", "unit:imap4.service"
  std::string prior_state;  // JSON, written by the reconciler, read back by its undo
  std::string applied_state;  // JSON: what the reconciler put in place (for drift detection)
  // applying: recorded, system being changed; applied: in force; reverting: being undone.
  std::string phase;
  std::string run_id;
  std::string recorded_at;
};

struct RunRecord {
  std::string id;
  std::string trigger;
  std::string started_at;
  std::string finished_at;
  std::string plan_digest;
  std::string result;
};

// A mitigation that could not be put in force (op "apply") or taken out (op "revert"), and when
// to try again. `cause` says who is to blame: "mitigation" (its own change broke a valid config,
// its probe or unit job failed), "environment" (the live config was already broken, D-Bus is
// down: nothing is blamed) or "manifest" (it cannot be rendered for this server: only a new
// revision or inventory helps). `inputs_digest` is the digest of every input when it failed: any
// change of an input retries at once.
struct FailureRow {
  std::string mitigation_id;
  std::int64_t revision = 0;
  int attempts = 0;
  std::int64_t retry_after = 0;  // unix seconds
  bool permanent = false;
  std::string reason;
  std::string op = "apply";
  std::string cause = "mitigation";
  std::string inputs_digest;
  std::string since;  // UTC text of the first failure of this streak
};

struct AuditQuery {
  std::optional<std::string> since, until;  // UTC timestamps, inclusive
  std::optional<std::string> mitigation;
  std::optional<std::string> event;
  std::optional<std::string> text;  // substring of message
  std::size_t limit = 10000;
};

class Store {
 public:
  // Opens (creating and migrating as needed) the database at `path`. The audit key lives beside
  // it in `path + ".key"` (mode 0600), created on first open.
  static std::unique_ptr<Store> open(const std::string& path);
  ~Store();

  static constexpr int kSchemaVersion = 2;
  int schema_version();
  const std::string& path() const { return path_; }

  // Ledger.
  std::int64_t ledger_record(const LedgerRecord& r);  // phase "applying"; returns the row
  void ledger_set_phase(std::int64_t row, const std::string& phase);
  void ledger_set_applied_state(std::int64_t row, const std::string& applied_state);
  void ledger_remove(std::int64_t row);
  std::vector<LedgerRecord> ledger();
  std::optional<LedgerRecord> ledger_find(const std::string& id, int action_index);

  // Audit log.
  AuditRecord audit_append(AuditEntry entry);
  std::vector<AuditRecord> audit_query(const AuditQuery& q);
  // Called with every record after it is committed (the daemon and mitigctl send them to the
  // system journal with structured fields).
  void set_audit_listener(std::function<void(const AuditRecord&)> listener) { audit_listener_ = std::move(listener); }
  // Verifies the whole chain; nullopt when intact, else the first bad record and why.
  std::optional<ChainBreak> audit_verify();
  std::int64_t audit_count();

  // Runs.
  void run_begin(const RunRecord& r);
  void run_finish(const std::string& id, const std::string& result, const std::string& digest);
  std::vector<RunRecord> runs(std::size_t limit);

  // Failures (per mitigation backoff).
  void failure_record(const FailureRow& f);
  void failure_clear(const std::string& mitigation_id);
  std::vector<FailureRow> failures();
  // Every failure's retry_after moved to `at` (mitigctl retry without ids, an input change).
  void failure_clear_all();

  // The last manifest bytes that parsed, per source (a file name or a feed path): an invalid
  // new version keeps the last good one in force.
  void last_good_put(const std::string& source, const std::string& bytes);
  std::optional<std::string> last_good_get(const std::string& source);

  // Small key/value facts: feed freshness, last policy digest...
  void fact_set(const std::string& key, const std::string& value);
  std::optional<std::string> fact_get(const std::string& key);

  // Manifests seen (id, revision, sha256), for the audit of feed changes.
  bool manifest_seen(const std::string& id, std::int64_t revision, const std::string& sha256);

  // Trusted feed metadata, kept exactly as received.
  void metadata_put(const std::string& role, std::int64_t version, const std::string& raw);
  std::optional<std::string> metadata_get(const std::string& role);
  void metadata_remove(const std::string& role);

  // Runs fn inside one write transaction (BEGIN IMMEDIATE ... COMMIT); rolls back on exception.
  template <class Fn>
  void transaction(Fn&& fn) {
    begin();
    try {
      fn();
    } catch (...) {
      rollback();
      throw;
    }
    commit();
  }

 private:
  Store(std::string path, std::unique_ptr<SQLite::Database> db, std::string key);
  void migrate();
  void begin();
  void commit();
  void rollback();
  void write_head(std::int64_t seq, const std::string& hash);

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  AuditChain chain_;
  std::function<void(const AuditRecord&)> audit_listener_;
};

std::string utc_now_text();

}  // namespace mitigd::state
