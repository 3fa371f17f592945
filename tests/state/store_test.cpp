#include "daemon/audit_journal.hpp"
#include "state/store.hpp"
#include "state/writer_lock.hpp"

#include <SQLiteCpp/Database.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <unistd.h>

using namespace mitigd::state;
namespace fs = std::filesystem;

namespace {

struct TempDb {
  std::string dir;
  std::string path;
  TempDb() {
    char tmpl[] = "/tmp/mitigd-store-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/state.db";
  }
  ~TempDb() { fs::remove_all(dir); }
};

void fill(Store& s, int n) {
  for (int i = 0; i < n; ++i) {
    s.audit_append({"", "applied", "M" + std::to_string(i), 1, "run", "test", "applied M" + std::to_string(i), "{}"});
  }
}

void sql(const std::string& path, const std::string& statement) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  db.exec(statement);
}

}  // namespace

TEST_CASE("Store: migrations run once, the ledger round-trips", "[state]") {
  TempDb t;
  {
    auto s = Store::open(t.path);
    CHECK(s->schema_version() == Store::kSchemaVersion);
    LedgerRecord r;
    r.mitigation_id = "M1";
    r.revision = 2;
    r.action_index = 0;
    r.kind = "rewrite_rule";
    r.resource = "web:M1";
    r.prior_state = R"({"files":"absent"})";
    r.run_id = "run1";
    auto row = s->ledger_record(r);
    s->ledger_set_phase(row, "applied");
  }
  auto s = Store::open(t.path);
  auto ledger = s->ledger();
  REQUIRE(ledger.size() == 1);
  CHECK(ledger[0].phase == "applied");
  CHECK(ledger[0].prior_state == R"({"files":"absent"})");
}

TEST_CASE("Audit verify: an untouched log verifies", "[state][audit]") {
  TempDb t;
  auto s = Store::open(t.path);
  fill(*s, 10);
  CHECK_FALSE(s->audit_verify());
}

TEST_CASE("Audit verify: names the first bad record after edit, delete, insert, reorder", "[state][audit]") {
  TempDb t;
  { fill(*Store::open(t.path), 10); }
  SECTION("edited") {
    sql(t.path, "UPDATE audit SET message = 'nothing happened' WHERE seq = 4");
    auto bad = Store::open(t.path)->audit_verify();
    REQUIRE(bad.has_value());
    CHECK(bad->seq == 4);
    CHECK(bad->why.find("edited") != std::string::npos);
  }
  SECTION("deleted in the middle") {
    sql(t.path, "DELETE FROM audit WHERE seq = 6");
    auto bad = Store::open(t.path)->audit_verify();
    REQUIRE(bad.has_value());
    CHECK(bad->seq == 7);
  }
  SECTION("deleted at the end") {
    sql(t.path, "DELETE FROM audit WHERE seq >= 9");
    auto bad = Store::open(t.path)->audit_verify();
    REQUIRE(bad.has_value());
    CHECK(bad->seq == 9);
  }
  SECTION("inserted, renumbering the rest") {
    sql(t.path, "UPDATE audit SET seq = seq + 100 WHERE seq >= 5");
    sql(t.path, "UPDATE audit SET seq = seq - 99 WHERE seq >= 105");
    sql(t.path, "INSERT INTO audit SELECT 5, at, 'reverted', 'M9', 1, 'run', 'x', 'forged', '{}', prev_hash, hash FROM audit WHERE seq = 4");
    auto bad = Store::open(t.path)->audit_verify();
    REQUIRE(bad.has_value());
    CHECK(bad->seq == 5);
  }
  SECTION("reordered") {
    sql(t.path, "UPDATE audit SET seq = 100 WHERE seq = 3");
    sql(t.path, "UPDATE audit SET seq = 3 WHERE seq = 7");
    sql(t.path, "UPDATE audit SET seq = 7 WHERE seq = 100");
    auto bad = Store::open(t.path)->audit_verify();
    REQUIRE(bad.has_value());
    CHECK(bad->seq == 3);
  }
}

TEST_CASE("WriterLock: a second writer is refused and told who holds it", "[state]") {
  TempDb t;
  std::string holder;
  auto first = WriterLock::try_acquire(t.path, &holder);
  REQUIRE(first);
  // flock is per open file description: a second open in the same process conflicts too.
  auto second = WriterLock::try_acquire(t.path, &holder);
  CHECK_FALSE(second);
  CHECK(holder.find("pid " + std::to_string(getpid())) != std::string::npos);
}

TEST_CASE("audit records reach listeners after commit, with their chain position, journal fields are structured", "[state]") {
  TempDb t;
  struct {
    std::unique_ptr<Store> store;
  } ts{Store::open(t.path)};
  std::vector<mitigd::state::AuditRecord> seen;
  ts.store->set_audit_listener([&](const mitigd::state::AuditRecord& r) { seen.push_back(r); });
  ts.store->audit_append({"", "reverted", "M1", 2, "run-1", "mitigd", "reverted M1:\nsuperseded", "{\"superseded_by\":\"15.2\"}"});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].seq == 1);
  CHECK(seen[0].hash == ts.store->audit_query({}).at(0).hash);
  auto fields = mitigd::audit_journal_fields(seen[0], "mitigd");
  auto has = [&](const std::string& f) { return std::find(fields.begin(), fields.end(), f) != fields.end(); };
  CHECK(has("MITIGD_EVENT=reverted"));
  CHECK(has("MITIGD_MITIGATION=M1"));
  CHECK(has("MITIGD_REVISION=2"));
  CHECK(has("MITIGD_AUDIT_SEQ=1"));
  CHECK(has("MITIGD_AUDIT_HASH=" + seen[0].hash));
  CHECK(has("MITIGD_DETAIL={\"superseded_by\":\"15.2\"}"));
  CHECK(has("MESSAGE=reverted M1: reverted M1: superseded"));
  CHECK(has("SYSLOG_IDENTIFIER=mitigd"));
}
