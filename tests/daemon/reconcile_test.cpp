// The one reconcile, against in-memory fakes of nginx, systemd and the clock, with a fault plan that
// fails the Nth call: failure semantics an operator can trust (issue 12), for every reconciler and
// for the whole run. The real-server tests (tests/integration) prove the same against real nginx,
// Apache and systemd.
#include "daemon/reconcile.hpp"
#include "feed/manifest_source.hpp"
#include "tests/support/fakes.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace mitigd::testing {
namespace {
namespace fs = std::filesystem;

// Forwards to the harness's systemd, so the fake's state outlives engine reloads.
class SharedSystemd final : public SystemdDriver {
 public:
  explicit SharedSystemd(FakeSystemd& s) : s_(s) {}
  Result<UnitState> state(const std::string& u) override { return s_.state(u); }
  Result<void> stop(const std::string& u) override { return s_.stop(u); }
  Result<void> start(const std::string& u) override { return s_.start(u); }
  Result<void> mask(const std::string& u, bool r) override { return s_.mask(u, r); }
  Result<void> unmask(const std::string& u, bool r) override { return s_.unmask(u, r); }

 private:
  FakeSystemd& s_;
};

struct Harness {
  std::string dir;
  FakeClock clock{std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now())};
  MemoryIncludeDirs include_dirs;
  FakeNginx nginx;
  FakeSystemd systemd;
  FaultPlan faults;
  std::unique_ptr<state::Store> store;
  std::unique_ptr<Engine> engine;

  explicit Harness(const std::vector<std::string>& ids, const std::string& host = "web01")
      : dir(make_dir()), nginx(dir + "/nginx", include_dirs) {
    fs::create_directories(dir + "/nginx/mitigd/http");
    fs::create_directories(dir + "/nginx/mitigd/server");
    fs::create_directories(dir + "/manifests");
    fs::create_directories(dir + "/policy/servers");
    write("nginx/site.conf", "server {\n  listen 127.0.0.1:80;\n  include mitigd/server/*.conf;\n}\n");
    for (const auto& id : ids) add_example(id);
    write("policy/org.json", R"({"mitigations_enabled": true, "auto_revert": true})");
    write("exchange.version", "15.2.1118.7\n");
    write("inventory.json", R"({"host": ")" + host + R"(",
      "products": {"exchange": {"scheme": "dotted", "version": {"file": "exchange.version"}}},
      "web_server": {"kind": "nginx", "http_include_dir": "nginx/mitigd/http", "server_include_dir": "nginx/mitigd/server",
                     "validate": ["fake-validate"], "reload": ["fake-reload"], "probe_url": "http://127.0.0.1:18080"},
      "services": {"MSExchangeIMAP4": {"unit": "imap4.service"}},
      "vdirs": {"ecp": {"prefix": "/ecp/"}, "owa": {"prefix": "/owa/"}}})");
    write("mitigd.json", R"({"inventory":"inventory.json","policy_dir":"policy","manifests_dir":"manifests","state_db":"state.db"})");
    systemd.units["imap4.service"] = UnitState{"loaded", "active", "running", "enabled"};
    nginx.faults = &faults;
    systemd.faults = &faults;
    include_dirs.faults = &faults;
    auto config = load_config(dir + "/mitigd.json");
    REQUIRE(config);
    engine = std::make_unique<Engine>(*config, nginx, nginx, clock,
                                      [this](const std::string&) { return std::make_unique<SharedSystemd>(systemd); });
    engine->set_include_dirs(&include_dirs);
    store = state::Store::open(dir + "/state.db");
  }
  ~Harness() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static std::string make_dir() {
    std::string t = (fs::temp_directory_path() / "mitigd-reconcile-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    return t;
  }
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(dir + "/" + rel, std::ios::trunc | std::ios::binary) << text;
    clock.advance(std::chrono::seconds(1));  // the file's mtime differs from the last one
  }
  void add_example(const std::string& id) {
    fs::copy_file(std::string(MITIGD_SOURCE_DIR) + "/examples/manifests/" + id + ".json", dir + "/manifests/" + id + ".json",
                  fs::copy_options::overwrite_existing);
    refresh_served_manifests();
  }
  void refresh_served_manifests() {
    auto set = feed::load_manifest_dir(dir + "/manifests");
    REQUIRE(set);
    // What the served rule files were rendered from: a manifest that turns invalid keeps its last
    // good version here as in mitigd.
    for (const auto& m : set->manifests) nginx.manifests.insert_or_assign(m.id, m);
  }
  RunReport run() { return reconcile(*engine, *store, RunRequest{"test", "test", true, false, std::nullopt}); }
  const MitigationState& state_of(const RunReport& r, const std::string& id) {
    for (const auto& m : r.mitigations) {
      if (m.id == id) return m;
    }
    FAIL("no mitigation " << id);
    throw;
  }
  std::size_t audits(const std::string& event) {
    return store->audit_query({std::nullopt, std::nullopt, std::nullopt, event, std::nullopt}).size();
  }
  Plan plan() { return engine->plan(*store, clock.wall()); }
  bool blocked(const std::string& target) {
    auto r = nginx.send("", HttpRequest{"GET", target, {}});
    return r && (r->dropped || r->status == 403);
  }
};

const char* kExploit = "/autodiscover/autodiscover.json?@evil.com/%50owershell";

}  // namespace

TEST_CASE("Reconcile: plan changes nothing; apply then plan is empty; the exploit is blocked", "[daemon][reconcile]") {
  Harness h({"M1", "IMAP1"});
  REQUIRE(h.engine->load(h.store.get()));
  auto before_units = h.systemd.units.at("imap4.service").active_state;
  Plan p = h.plan();
  CHECK(p.steps.size() == 2);
  CHECK(h.nginx.served().empty());
  CHECK(h.systemd.units.at("imap4.service").active_state == before_units);
  RunReport r = h.run();
  CHECK(r.outcome.applied == 2);
  CHECK(r.converged());
  CHECK(h.blocked(kExploit));
  CHECK(h.systemd.units.at("imap4.service").active_state == "inactive");
  CHECK(h.plan().empty());
  CHECK(h.state_of(r, "M1").state == "applied");
}

TEST_CASE("Reconcile: a broken live config is the environment's fault: waiting, nothing blamed, applied once fixed",
          "[daemon][reconcile][issue12]") {
  Harness h({"M1"});
  h.write("nginx/site.conf", "server {\n  listen 127.0.0.1:80\n  BROKEN\n");
  RunReport r = h.run();
  CHECK_FALSE(r.converged());
  CHECK(r.outcome.waiting == 1);
  CHECK(r.outcome.failed == 0);
  const auto& m = h.state_of(r, "M1");
  CHECK(m.state == "waiting");
  CHECK(m.cause == "environment");
  CHECK(m.not_in_force);
  CHECK(m.reason.find("site.conf:3") != std::string::npos);  // the server's own message, file and line
  CHECK(m.reason.find("mitigctl retry M1") != std::string::npos);
  REQUIRE(m.next_attempt);
  CHECK(*m.next_attempt <= h.clock.wall() + std::chrono::seconds(60));
  CHECK(h.audits("failed") == 0);
  CHECK(h.audits("waiting") == 1);
  // Further triggers before the backoff ends do nothing (no validation storm) ...
  int validations = h.nginx.validations;
  for (int i = 0; i < 5; ++i) CHECK(h.run().outcome.waiting == 0);
  CHECK(h.nginx.validations == validations);
  // ... and the operator's fix is an input change: the very next run applies it, no command needed.
  h.write("nginx/site.conf", "server {\n  listen 127.0.0.1:80;\n  include mitigd/server/*.conf;\n}\n");
  RunReport fixed = h.run();
  CHECK(fixed.outcome.applied == 1);
  CHECK(fixed.converged());
  CHECK(h.blocked(kExploit));
  CHECK(h.store->failures().empty());
}

TEST_CASE("Reconcile: a mitigation whose own file breaks a valid config is failed, retried with capped backoff and at once on input change",
          "[daemon][reconcile][issue12]") {
  Harness h({"M1"});
  h.write("manifests/BAD.json", R"({"schema":1,"id":"BAD","revision":1,"title":"refused by the server",
    "applies_to":{"product":"exchange","fixed_in":"15.2.1118.20"},
    "actions":[{"kind":"rewrite_rule","name":"r","when":[{"input":"path","pattern":"fakeinvalid"}],"respond":"deny"}]})");
  RunReport r = h.run();
  CHECK(h.state_of(r, "M1").state == "applied");  // the good one proceeds
  const auto& bad = h.state_of(r, "BAD");
  CHECK(bad.state == "failed");
  CHECK(bad.cause == "mitigation");
  CHECK(r.outcome.failed == 1);
  CHECK_FALSE(r.converged());
  // Backoff grows and is capped; one audit record for the whole streak.
  std::vector<long> waits;
  for (int i = 0; i < 12; ++i) {
    auto f = h.store->failures().at(0);
    waits.push_back(f.retry_after - h.clock.wall().time_since_epoch().count());
    h.clock.advance(std::chrono::seconds(f.retry_after - h.clock.wall().time_since_epoch().count()));
    h.run();
  }
  CHECK(waits.front() <= 30);
  CHECK(waits.back() <= 900);
  CHECK(std::is_sorted(waits.begin(), waits.end()));
  CHECK(h.store->failures().at(0).attempts == 13);
  CHECK(h.audits("failed") == 1);
  // An input change (here the inventory) retries at once, without waiting for the backoff.
  auto attempts = h.store->failures().at(0).attempts;
  h.write("inventory.json", read_text(h.dir + "/inventory.json") + "\n");
  h.run();
  CHECK(h.store->failures().at(0).attempts == attempts + 1);
}

TEST_CASE("Reconcile: a failing revert backs off and is audited once, not per attempt", "[daemon][reconcile][issue12]") {
  Harness h({"M1"});
  REQUIRE(h.run().converged());
  // The operator breaks the site, then disables mitigations: every revert fails validation.
  h.write("nginx/site.conf", "BROKEN");
  h.write("policy/org.json", R"({"mitigations_enabled": false, "auto_revert": true})");
  RunReport r = h.run();
  CHECK(r.outcome.waiting == 1);
  CHECK(h.state_of(r, "M1").not_in_force);  // still applied although it should not be: said loudly
  int validations = h.nginx.validations;
  for (int i = 0; i < 50; ++i) h.run();  // triggers storm (e.g. file events)
  CHECK(h.nginx.validations == validations);
  CHECK(h.audits("revert_failed") == 1);
  // Over 30 s of backoff-paced retries: still one record.
  for (int i = 0; i < 6; ++i) {
    h.clock.advance(std::chrono::seconds(61));
    h.run();
  }
  CHECK(h.audits("revert_failed") == 1);
  CHECK(h.store->failures().at(0).attempts >= 4);
  h.write("nginx/site.conf", "server {}\n");
  RunReport fixed = h.run();
  CHECK(fixed.outcome.reverted == 1);
  CHECK(fixed.converged());
}

TEST_CASE("Reconcile: retry clears backoff at once", "[daemon][reconcile][issue12]") {
  Harness h({"M1"});
  h.nginx.reload_fails = true;
  CHECK(h.run().outcome.waiting == 1);
  h.nginx.reload_fails = false;
  CHECK(h.run().outcome.applied == 0);  // still in backoff
  clear_failures(*h.store, {"M1"}, "test");
  CHECK(h.run().outcome.applied == 1);
  CHECK(h.audits("retry_requested") == 1);
}

TEST_CASE("Reconcile: an invalid manifest is isolated: the others proceed, its last good revision stays", "[daemon][reconcile][issue12]") {
  Harness h({"M1"});
  REQUIRE(h.run().converged());
  // A broken new revision of M1 beside a good new emergency manifest.
  h.write("manifests/M1.json", R"({"schema":1,"id":"M1","revision":3,"title":"broken"})");
  h.add_example("IMAP1");
  RunReport r = h.run();
  CHECK(h.state_of(r, "IMAP1").state == "applied");
  CHECK(h.state_of(r, "M1").state == "applied");  // revision 2, its last good version
  CHECK(h.blocked(kExploit));
  REQUIRE_FALSE(r.warnings.empty());
  CHECK(r.warnings[0].find("M1.json") != std::string::npos);
  // An invalid manifest that never was good is reported as invalid, and not in force.
  h.write("manifests/NEW1.json", R"({"schema":1,"id":"NEW1","revision":1,"title":"no actions"})");
  RunReport r2 = h.run();
  CHECK(h.state_of(r2, "NEW1").state == "invalid");
  CHECK(h.state_of(r2, "NEW1").not_in_force);
  CHECK_FALSE(r2.converged());
}

TEST_CASE("Reconcile: a server policy file for another spelling of the host is a loud warning", "[daemon][reconcile][issue12]") {
  Harness h({"M1"}, "web1");
  h.write("policy/servers/web01.json", R"({"blocked":[{"id":"M1","reason":"breaks the health checker"}]})");
  RunReport r = h.run();
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("web01") != std::string::npos);
  CHECK(r.warnings[0].find("\"web1\"") != std::string::npos);
  CHECK(h.audits("warning") == 1);
  h.run();
  CHECK(h.audits("warning") == 1);  // once per change, not per run
}

TEST_CASE("Reconcile: revert_all takes out everything the ledger holds, whatever the policy says", "[daemon][reconcile]") {
  Harness h({"M1", "IMAP1"});
  REQUIRE(h.run().converged());
  h.write("policy/org.json", R"({"mitigations_enabled": true, "mode": "dry-run", "auto_revert": false})");
  RunRequest all{"revert-all", "test", true, false, std::nullopt};
  all.revert = RevertScope::all;
  RunReport r = reconcile(*h.engine, *h.store, all);
  CHECK(r.outcome.reverted == 2);
  CHECK(h.store->ledger().empty());
  CHECK_FALSE(h.blocked(kExploit));
  CHECK(h.systemd.units.at("imap4.service").active_state == "active");
  CHECK(h.systemd.units.at("imap4.service").unit_file_state == "enabled");
}

TEST_CASE("Reconcile: revert of scope web takes out the rule files and leaves the units alone", "[daemon][reconcile]") {
  Harness h({"M1", "IMAP1"});
  REQUIRE(h.run().converged());
  RunRequest web{"revert-all --web", "test", true, false, std::nullopt};
  web.revert = RevertScope::web;
  RunReport r = reconcile(*h.engine, *h.store, web);
  CHECK(r.outcome.reverted == 1);
  CHECK_FALSE(h.blocked(kExploit));
  CHECK(h.nginx.served().empty());
  CHECK(h.systemd.units.at("imap4.service").active_state == "inactive");
  auto left = h.store->ledger();
  REQUIRE_FALSE(left.empty());
  for (const auto& row : left) CHECK(row.mitigation_id == "IMAP1");
}

TEST_CASE("Reconcile: a failure at any step of any reconciler converges on a later round", "[daemon][reconcile][faults]") {
  for (int n = 1; n <= 40; ++n) {
    Harness h({"M1", "IMAP1", "M2"});
    h.faults.fail_at = n;
    RunReport first = h.run();
    if (h.faults.calls < n) break;  // the run made fewer calls than n: every step was covered
    h.faults.fail_at = 0;
    for (int round = 0; round < 4 && !h.run().converged(); ++round) {
      h.clock.advance(std::chrono::seconds(901));
    }
    INFO("failed call " << n);
    RunReport last = h.run();
    CHECK(last.converged());
    CHECK(h.blocked(kExploit));
    CHECK(h.systemd.units.at("imap4.service").active_state == "inactive");
    CHECK(h.plan().empty());
    // Nothing applied is forgotten: every rule file served has a ledger row.
    for (const auto& [name, text] : h.nginx.served()) {
      auto marker = web::read_marker(text);
      if (marker && marker->id != "_prelude") CHECK(h.store->ledger_find(marker->id, 0));
    }
  }
}

}  // namespace mitigd::testing
