#include "state/store.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>
#include <botan/auto_rng.h>
#include <botan/hex.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace mitigd::state {

std::string utc_now_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

// Migrations, applied in order; PRAGMA user_version holds how many ran. Never edit one that
// shipped: add the next.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE ledger (
  row INTEGER PRIMARY KEY AUTOINCREMENT,
  mitigation_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  action_index INTEGER NOT NULL,
  kind TEXT NOT NULL,
  resource TEXT NOT NULL,
  prior_state TEXT NOT NULL,
  applied_state TEXT NOT NULL DEFAULT '',
  phase TEXT NOT NULL CHECK (phase IN ('applying', 'applied', 'reverting')),
  run_id TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  UNIQUE (mitigation_id, action_index, resource)
);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  event TEXT NOT NULL,
  mitigation_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  run_id TEXT NOT NULL,
  actor TEXT NOT NULL,
  message TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_mitigation ON audit (mitigation_id);
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  trigger TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL DEFAULT '',
  plan_digest TEXT NOT NULL DEFAULT '',
  result TEXT NOT NULL DEFAULT 'running'
);
CREATE TABLE failures (
  mitigation_id TEXT PRIMARY KEY,
  revision INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  retry_after INTEGER NOT NULL,
  permanent INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE manifests_seen (
  mitigation_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  PRIMARY KEY (mitigation_id, revision, sha256)
);
CREATE TABLE feed_metadata (
  role TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  raw BLOB NOT NULL,
  stored_at TEXT NOT NULL
);
)sql",
    R"sql(
ALTER TABLE failures ADD COLUMN op TEXT NOT NULL DEFAULT 'apply';
ALTER TABLE failures ADD COLUMN cause TEXT NOT NULL DEFAULT 'mitigation';
ALTER TABLE failures ADD COLUMN inputs_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE failures ADD COLUMN since TEXT NOT NULL DEFAULT '';
CREATE TABLE last_good_manifests (source TEXT PRIMARY KEY, bytes BLOB NOT NULL, stored_at TEXT NOT NULL);
)sql",
};

std::string load_or_create_key(const std::string& key_path) {
  std::ifstream in(key_path, std::ios::binary);
  if (in) {
    std::string hex((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
    if (hex.size() != 64) throw StateError(key_path + ": audit key is not 64 hex characters");
    auto bytes = Botan::hex_decode(hex);
    return std::string(bytes.begin(), bytes.end());
  }
  Botan::AutoSeeded_RNG rng;
  auto bytes = rng.random_vec(32);
  std::string tmp = key_path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw StateError(key_path + ": cannot create the audit key");
  std::string hex = Botan::hex_encode(bytes, false) + "\n";
  bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), key_path.c_str()) != 0) {
    throw StateError(key_path + ": cannot write the audit key");
  }
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

std::unique_ptr<Store> Store::open(const std::string& path) {
  try {
    std::error_code ec;
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    ::chmod(path.c_str(), 0600);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");  // a committed ledger row survives power loss
    db->exec("PRAGMA foreign_keys=ON");
    db->setBusyTimeout(5000);
    std::string key = load_or_create_key(path + ".key");
    std::unique_ptr<Store> store(new Store(path, std::move(db), std::move(key)));
    store->migrate();
    return store;
  } catch (const SQLite::Exception& e) {
    throw StateError(path + ": " + e.what());
  }
}

Store::Store(std::string path, std::unique_ptr<SQLite::Database> db, std::string key)
    : path_(std::move(path)), db_(std::move(db)), chain_(std::move(key)) {}

Store::~Store() = default;

int Store::schema_version() { return db_->execAndGet("PRAGMA user_version").getInt(); }

void Store::migrate() {
  int version = schema_version();
  constexpr int known = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);
  if (version > known) {
    throw StateError(path_ + ": database schema " + std::to_string(version) +
                     " is newer than this mitigd understands (" + std::to_string(known) + ")");
  }
  for (int i = version; i < known; ++i) {
    SQLite::Transaction tx(*db_);
    db_->exec(kMigrations[i]);
    db_->exec("PRAGMA user_version=" + std::to_string(i + 1));
    tx.commit();
  }
}

void Store::begin() { db_->exec("BEGIN IMMEDIATE"); }
void Store::commit() { db_->exec("COMMIT"); }
void Store::rollback() {
  try {
    db_->exec("ROLLBACK");
  } catch (const SQLite::Exception&) {
  }
}

std::int64_t Store::ledger_record(const LedgerRecord& r) {
  SQLite::Statement q(*db_,
                      "INSERT INTO ledger (mitigation_id, revision, action_index, kind, resource, prior_state, "
                      "applied_state, phase, run_id, recorded_at) VALUES (?,?,?,?,?,?,?, 'applying', ?, ?)");
  q.bind(1, r.mitigation_id);
  q.bind(2, static_cast<int64_t>(r.revision));
  q.bind(3, r.action_index);
  q.bind(4, r.kind);
  q.bind(5, r.resource);
  q.bind(6, r.prior_state);
  q.bind(7, r.applied_state);
  q.bind(8, r.run_id);
  q.bind(9, r.recorded_at.empty() ? utc_now_text() : r.recorded_at);
  q.exec();
  return db_->getLastInsertRowid();
}

void Store::ledger_set_phase(std::int64_t row, const std::string& phase) {
  SQLite::Statement q(*db_, "UPDATE ledger SET phase = ? WHERE row = ?");
  q.bind(1, phase);
  q.bind(2, static_cast<int64_t>(row));
  q.exec();
}

void Store::ledger_set_applied_state(std::int64_t row, const std::string& applied_state) {
  SQLite::Statement q(*db_, "UPDATE ledger SET applied_state = ? WHERE row = ?");
  q.bind(1, applied_state);
  q.bind(2, static_cast<int64_t>(row));
  q.exec();
}

void Store::ledger_remove(std::int64_t row) {
  SQLite::Statement q(*db_, "DELETE FROM ledger WHERE row = ?");
  q.bind(1, static_cast<int64_t>(row));
  q.exec();
}

namespace {
LedgerRecord read_ledger(SQLite::Statement& q) {
  LedgerRecord r;
  r.row = q.getColumn(0).getInt64();
  r.mitigation_id = q.getColumn(1).getString();
  r.revision = q.getColumn(2).getInt64();
  r.action_index = q.getColumn(3).getInt();
  r.kind = q.getColumn(4).getString();
  r.resource = q.getColumn(5).getString();
  r.prior_state = q.getColumn(6).getString();
  r.applied_state = q.getColumn(7).getString();
  r.phase = q.getColumn(8).getString();
  r.run_id = q.getColumn(9).getString();
  r.recorded_at = q.getColumn(10).getString();
  return r;
}
constexpr const char* kLedgerColumns =
    "SELECT row, mitigation_id, revision, action_index, kind, resource, prior_state, applied_state, phase, run_id, "
    "recorded_at FROM ledger";
}  // namespace

std::vector<LedgerRecord> Store::ledger() {
  SQLite::Statement q(*db_, std::string(kLedgerColumns) + " ORDER BY mitigation_id, action_index");
  std::vector<LedgerRecord> out;
  while (q.executeStep()) out.push_back(read_ledger(q));
  return out;
}

std::optional<LedgerRecord> Store::ledger_find(const std::string& id, int action_index) {
  SQLite::Statement q(*db_, std::string(kLedgerColumns) + " WHERE mitigation_id = ? AND action_index = ?");
  q.bind(1, id);
  q.bind(2, action_index);
  if (q.executeStep()) return read_ledger(q);
  return std::nullopt;
}

void Store::run_begin(const RunRecord& r) {
  SQLite::Statement q(*db_, "INSERT INTO runs (id, trigger, started_at) VALUES (?,?,?)");
  q.bind(1, r.id);
  q.bind(2, r.trigger);
  q.bind(3, r.started_at.empty() ? utc_now_text() : r.started_at);
  q.exec();
}

void Store::run_finish(const std::string& id, const std::string& result, const std::string& digest) {
  SQLite::Statement q(*db_, "UPDATE runs SET finished_at = ?, result = ?, plan_digest = ? WHERE id = ?");
  q.bind(1, utc_now_text());
  q.bind(2, result);
  q.bind(3, digest);
  q.bind(4, id);
  q.exec();
}

std::vector<RunRecord> Store::runs(std::size_t limit) {
  SQLite::Statement q(*db_,
                      "SELECT id, trigger, started_at, finished_at, plan_digest, result FROM runs ORDER BY started_at "
                      "DESC, rowid DESC LIMIT ?");
  q.bind(1, static_cast<int64_t>(limit));
  std::vector<RunRecord> out;
  while (q.executeStep()) {
    out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                   q.getColumn(3).getString(), q.getColumn(4).getString(), q.getColumn(5).getString()});
  }
  return out;
}

void Store::failure_record(const FailureRow& f) {
  SQLite::Statement q(*db_,
                      "INSERT OR REPLACE INTO failures (mitigation_id, revision, attempts, retry_after, permanent, "
                      "reason, op, cause, inputs_digest, since) VALUES (?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, f.mitigation_id);
  q.bind(2, static_cast<int64_t>(f.revision));
  q.bind(3, f.attempts);
  q.bind(4, static_cast<int64_t>(f.retry_after));
  q.bind(5, f.permanent ? 1 : 0);
  q.bind(6, f.reason);
  q.bind(7, f.op);
  q.bind(8, f.cause);
  q.bind(9, f.inputs_digest);
  q.bind(10, f.since.empty() ? utc_now_text() : f.since);
  q.exec();
}

void Store::failure_clear_all() { db_->exec("DELETE FROM failures"); }

void Store::last_good_put(const std::string& source, const std::string& bytes) {
  SQLite::Statement q(*db_, "INSERT OR REPLACE INTO last_good_manifests (source, bytes, stored_at) VALUES (?, ?, ?)");
  q.bind(1, source);
  q.bind(2, bytes.data(), static_cast<int>(bytes.size()));
  q.bind(3, utc_now_text());
  q.exec();
}

std::optional<std::string> Store::last_good_get(const std::string& source) {
  SQLite::Statement q(*db_, "SELECT bytes FROM last_good_manifests WHERE source = ?");
  q.bind(1, source);
  if (!q.executeStep()) return std::nullopt;
  const auto& c = q.getColumn(0);
  return std::string(static_cast<const char*>(c.getBlob()), static_cast<std::size_t>(c.getBytes()));
}

void Store::failure_clear(const std::string& id) {
  SQLite::Statement q(*db_, "DELETE FROM failures WHERE mitigation_id = ?");
  q.bind(1, id);
  q.exec();
}

std::vector<FailureRow> Store::failures() {
  SQLite::Statement q(*db_,
                      "SELECT mitigation_id, revision, attempts, retry_after, permanent, reason, op, cause, "
                      "inputs_digest, since FROM failures ORDER BY mitigation_id");
  std::vector<FailureRow> out;
  while (q.executeStep()) {
    out.push_back({q.getColumn(0).getString(), q.getColumn(1).getInt64(), q.getColumn(2).getInt(),
                   q.getColumn(3).getInt64(), q.getColumn(4).getInt() != 0, q.getColumn(5).getString(),
                   q.getColumn(6).getString(), q.getColumn(7).getString(), q.getColumn(8).getString(),
                   q.getColumn(9).getString()});
  }
  return out;
}

void Store::fact_set(const std::string& key, const std::string& value) {
  SQLite::Statement q(*db_, "INSERT OR REPLACE INTO facts (key, value) VALUES (?, ?)");
  q.bind(1, key);
  q.bind(2, value);
  q.exec();
}

std::optional<std::string> Store::fact_get(const std::string& key) {
  SQLite::Statement q(*db_, "SELECT value FROM facts WHERE key = ?");
  q.bind(1, key);
  if (q.executeStep()) return q.getColumn(0).getString();
  return std::nullopt;
}

bool Store::manifest_seen(const std::string& id, std::int64_t revision, const std::string& sha256) {
  SQLite::Statement q(*db_,
                      "INSERT OR IGNORE INTO manifests_seen (mitigation_id, revision, sha256, first_seen) VALUES "
                      "(?,?,?,?)");
  q.bind(1, id);
  q.bind(2, static_cast<int64_t>(revision));
  q.bind(3, sha256);
  q.bind(4, utc_now_text());
  return q.exec() == 0;  // true when it was already known
}

void Store::metadata_put(const std::string& role, std::int64_t version, const std::string& raw) {
  SQLite::Statement q(*db_, "INSERT OR REPLACE INTO feed_metadata (role, version, raw, stored_at) VALUES (?,?,?,?)");
  q.bind(1, role);
  q.bind(2, static_cast<int64_t>(version));
  q.bind(3, raw.data(), static_cast<int>(raw.size()));
  q.bind(4, utc_now_text());
  q.exec();
}

std::optional<std::string> Store::metadata_get(const std::string& role) {
  SQLite::Statement q(*db_, "SELECT raw FROM feed_metadata WHERE role = ?");
  q.bind(1, role);
  if (!q.executeStep()) return std::nullopt;
  const auto& col = q.getColumn(0);
  return std::string(static_cast<const char*>(col.getBlob()), static_cast<std::size_t>(col.getBytes()));
}

void Store::metadata_remove(const std::string& role) {
  SQLite::Statement q(*db_, "DELETE FROM feed_metadata WHERE role = ?");
  q.bind(1, role);
  q.exec();
}

}  // namespace mitigd::state
