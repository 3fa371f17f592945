// The audit half of the store: the hash-chained log, its query and its verification, and the head
// file kept beside the database (the store's tables and migrations are in store.cpp).
#include "state/store.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace mitigd::state {

AuditRecord Store::audit_append(AuditEntry entry) {
  if (entry.at.empty()) entry.at = utc_now_text();
  if (entry.detail.empty()) entry.detail = "{}";
  AuditRecord r;
  static_cast<AuditEntry&>(r) = entry;
  // Always its own transaction, so the head file written after COMMIT is never ahead of the log.
  if (sqlite3_get_autocommit(db_->getHandle()) == 0) {
    throw StateError(path_ + ": audit_append inside another transaction");
  }
  const bool own = true;
  begin();
  try {
    SQLite::Statement head(*db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (head.executeStep()) {
      r.seq = head.getColumn(0).getInt64() + 1;
      r.prev_hash = head.getColumn(1).getString();
    } else {
      r.seq = 1;
      r.prev_hash = AuditChain::genesis();
    }
    r.hash = chain_.hash(r.prev_hash, r.seq, r);
    SQLite::Statement q(*db_,
                        "INSERT INTO audit (seq, at, event, mitigation_id, revision, run_id, actor, message, detail, "
                        "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)");
    q.bind(1, static_cast<int64_t>(r.seq));
    q.bind(2, r.at);
    q.bind(3, r.event);
    q.bind(4, r.mitigation_id);
    q.bind(5, static_cast<int64_t>(r.revision));
    q.bind(6, r.run_id);
    q.bind(7, r.actor);
    q.bind(8, r.message);
    q.bind(9, r.detail);
    q.bind(10, r.prev_hash);
    q.bind(11, r.hash);
    q.exec();
  } catch (...) {
    if (own) rollback();
    throw;
  }
  if (own) commit();
  if (audit_listener_) {
    try {
      audit_listener_(r);  // after COMMIT: listeners only ever see records that exist
    } catch (...) {
      // A listener (the journal) must never break the audit itself.
    }
  }
  write_head(r.seq, r.hash);
  return r;
}

// The newest record's seq and hash, outside the database: deleting the newest records leaves
// a chain that still links, and only this file tells.
void Store::write_head(std::int64_t seq, const std::string& hash) {
  // (state/ depends on nothing of ours, so not policies/atomic_file: the same steps, in a 0700 dir.)
  std::string head = path_ + ".head", tmp = head + ".tmp";
  std::string text = std::to_string(seq) + " " + hash + "\n";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (ok) std::rename(tmp.c_str(), head.c_str());
}

namespace {
AuditRecord read_audit(SQLite::Statement& q) {
  AuditRecord r;
  r.seq = q.getColumn(0).getInt64();
  r.at = q.getColumn(1).getString();
  r.event = q.getColumn(2).getString();
  r.mitigation_id = q.getColumn(3).getString();
  r.revision = q.getColumn(4).getInt64();
  r.run_id = q.getColumn(5).getString();
  r.actor = q.getColumn(6).getString();
  r.message = q.getColumn(7).getString();
  r.detail = q.getColumn(8).getString();
  r.prev_hash = q.getColumn(9).getString();
  r.hash = q.getColumn(10).getString();
  return r;
}
constexpr const char* kAuditColumns =
    "SELECT seq, at, event, mitigation_id, revision, run_id, actor, message, detail, prev_hash, hash FROM audit";
}  // namespace

std::vector<AuditRecord> Store::audit_query(const AuditQuery& aq) {
  std::string sql = std::string(kAuditColumns) + " WHERE 1=1";
  if (aq.since) sql += " AND at >= :since";
  if (aq.until) sql += " AND at <= :until";
  if (aq.mitigation) sql += " AND mitigation_id = :mitigation";
  if (aq.event) sql += " AND event = :event";
  if (aq.text) sql += " AND instr(lower(message), lower(:text)) > 0";
  sql += " ORDER BY seq LIMIT :limit";
  SQLite::Statement q(*db_, sql);
  if (aq.since) q.bind(":since", *aq.since);
  if (aq.until) q.bind(":until", *aq.until);
  if (aq.mitigation) q.bind(":mitigation", *aq.mitigation);
  if (aq.event) q.bind(":event", *aq.event);
  if (aq.text) q.bind(":text", *aq.text);
  q.bind(":limit", static_cast<int64_t>(aq.limit));
  std::vector<AuditRecord> out;
  while (q.executeStep()) out.push_back(read_audit(q));
  return out;
}

std::optional<ChainBreak> Store::audit_verify() {
  // Physical order (rowid is seq here): a reordering shows as a broken link.
  SQLite::Statement q(*db_, std::string(kAuditColumns) + " ORDER BY seq");
  std::vector<AuditRecord> records;
  while (q.executeStep()) records.push_back(read_audit(q));
  if (auto bad = chain_.verify(records)) return bad;
  std::ifstream in(path_ + ".head");
  std::int64_t head_seq = 0;
  std::string head_hash;
  if (in >> head_seq >> head_hash) {
    // A crash between COMMIT and the head write leaves the head one behind: still consistent.
    if (head_seq > static_cast<std::int64_t>(records.size())) {
      return ChainBreak{static_cast<std::int64_t>(records.size()) + 1,
                        "records " + std::to_string(records.size() + 1) + ".." + std::to_string(head_seq) +
                            " are missing (the newest records were deleted)"};
    }
    if (head_seq > 0 && records[static_cast<std::size_t>(head_seq - 1)].hash != head_hash) {
      return ChainBreak{head_seq, "does not match the recorded head of the log (rewritten)"};
    }
  } else if (!records.empty()) {
    return ChainBreak{1, "the head file " + path_ + ".head is missing: the log cannot be checked to its end"};
  }
  return std::nullopt;
}

std::int64_t Store::audit_count() { return db_->execAndGet("SELECT count(*) FROM audit").getInt64(); }

}  // namespace mitigd::state
