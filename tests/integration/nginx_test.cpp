#include "tests/integration/deployment.hpp"

#include <filesystem>
#include <fstream>

using namespace mitigd;
using namespace mitigd::testing;
namespace fs = std::filesystem;

namespace {
// Vulnerable to every example: below each fixed_in.
constexpr const char* kVulnerable = "15.2.397.3";
constexpr const char* kPatched = "15.2.1544.30";

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}
}  // namespace

TEST_CASE("NginxRules: exploits reach the app before, are dropped after apply, and pass again after revert",
          "[integration][nginx]") {
  // Both rules engines: plain directives, and mitigd's module with its literal prefilter.
  std::string engine = GENERATE(as<std::string>{}, "config", "module");
  INFO("rules_engine " << engine);
  if (engine == "module") REQUIRE(fs::exists(MITIGD_NGINX_MODULE_SO));
  UpstreamApp app;
  PrivateNginx nginx(app.port());
  Deployment d(target_of(nginx, engine), {"M1", "PL1", "M2", "ECP1"}, kVulnerable);

  for (const Req& r : exploit_requests()) {
    INFO("before apply: " << r.method << " " << r.target);
    CHECK(reached_app(request(nginx.url(), r.method, r.target, r.headers)));
  }
  std::string original_csp = header_value(request(nginx.url(), "GET", "/owa/"), "Content-Security-Policy");
  CHECK(original_csp == "default-src 'self'");

  ApplyOutcome applied = d.converge();
  CHECK(applied.applied == 4);
  CHECK(applied.failed == 0);
  {
    // The engine asked for is the one nginx runs: mitigd_rule directives, or plain `if`s.
    std::ifstream in(nginx.server_dir() + "/mitigd-M1.conf");
    std::string m1((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK((m1.find("mitigd_rule \"M1#0\"") != std::string::npos) == (engine == "module"));
    CHECK((m1.find("if ($mitigd_request_uri_decoded") != std::string::npos) == (engine == "config"));
  }

  for (const Req& r : exploit_requests()) {
    INFO("after apply: " << r.method << " " << r.target);
    ProbeResponse got = request(nginx.url(), r.method, r.target, r.headers);
    INFO("got " << (got.dropped ? std::string("dropped") : std::to_string(got.status)) << " " << got.headers);
    // The ECP1 vdir answers 503 first for /ecp/; everything else is dropped (444).
    CHECK((got.dropped || (std::string(r.target).starts_with("/ecp/") && got.status == 503)));
  }
  for (const Req& r : normal_requests()) {
    INFO("normal traffic: " << r.method << " " << r.target);
    CHECK(reached_app(request(nginx.url(), r.method, r.target, r.headers)));
  }
  CHECK(request(nginx.url(), "GET", "/ecp/default.aspx").status == 503);
  CHECK(request(nginx.url(), "GET", "/ECP/").status == 503);

  // M2.1: the directive is appended to OWA's HTML answers only.
  check_m2_csp_on_owa_html_only(nginx.url());

  CHECK(d.plan().empty());
  CHECK(d.store().ledger().size() == 5);  // M1 1 action, PL1 2, M2 1, ECP1 1

  // The security update supersedes all of them: everything is as before.
  d.set_version(kPatched);
  ApplyOutcome reverted = d.converge();
  CHECK(reverted.reverted == 4);
  CHECK(reverted.failed == 0);
  for (const Req& r : exploit_requests()) {
    INFO("after revert: " << r.method << " " << r.target);
    CHECK(reached_app(request(nginx.url(), r.method, r.target, r.headers)));
  }
  CHECK(header_value(request(nginx.url(), "GET", "/owa/"), "Content-Security-Policy") == original_csp);
  CHECK(files_in(nginx.server_dir()) == 0);
  CHECK(files_in(nginx.http_dir()) == 0);
  CHECK(d.store().ledger().empty());
  CHECK(d.plan().empty());
  auto superseded = d.store().audit_query({std::nullopt, std::nullopt, std::string("M1"), std::string("superseded"), std::nullopt});
  REQUIRE(superseded.size() == 1);
  CHECK(superseded[0].detail.find("\"superseded_by\":\"15.2.1544.30\"") != std::string::npos);
  CHECK_FALSE(d.store().audit_verify());
}

TEST_CASE("NginxRules: a rule file deleted or edited by hand is drift, repaired by the next apply", "[integration][nginx]") {
  UpstreamApp app;
  PrivateNginx nginx(app.port());
  Deployment d(target_of(nginx), {"M1"}, kVulnerable);
  REQUIRE(d.converge().applied == 1);
  const char* exploit = "/autodiscover/autodiscover.json?@evil.com/%50owershell";
  REQUIRE(request(nginx.url(), "GET", exploit).dropped);

  fs::remove(nginx.server_dir() + "/mitigd-M1.conf");
  Plan drift = d.plan();
  REQUIRE(drift.steps.size() == 1);
  CHECK(drift.steps[0].op == Step::Op::repair);
  CHECK(drift.steps[0].reason.find("missing") != std::string::npos);
  CHECK(d.converge().repaired == 1);
  CHECK(request(nginx.url(), "GET", exploit).dropped);

  std::ofstream(nginx.server_dir() + "/mitigd-M1.conf", std::ios::app) << "# harmless edit\n";
  Plan edited = d.plan();
  REQUIRE(edited.steps.size() == 1);
  CHECK(edited.steps[0].reason.find("edited by hand") != std::string::npos);
  CHECK(d.converge().repaired == 1);
  CHECK(d.plan().empty());
}

TEST_CASE("NginxRules: a config the server refuses leaves the running server exactly as it was", "[integration][nginx]") {
  UpstreamApp app;
  PrivateNginx nginx(app.port(), /*with_set_misc=*/false);  // decoded rules cannot load here
  Deployment d(target_of(nginx), {"M1"}, kVulnerable);
  const char* exploit = "/autodiscover/autodiscover.json?@evil.com/Powershell";
  REQUIRE(reached_app(request(nginx.url(), "GET", exploit)));

  ApplyOutcome out = d.converge();
  CHECK(out.failed == 1);
  CHECK(out.applied == 0);
  // Still serving, with the old config, and nothing of ours left on disk or in the ledger.
  CHECK(reached_app(request(nginx.url(), "GET", exploit)));
  CHECK(reached_app(request(nginx.url(), "GET", "/owa/")));
  CHECK(files_in(nginx.server_dir()) == 0);
  CHECK(d.store().ledger().empty());
  auto failures = d.store().failures();
  REQUIRE(failures.size() == 1);
  // The live config validates, so the mitigation's own file broke it: blamed on the mitigation,
  // retried with backoff (not forever refused, not in a loop): the next plan holds until then.
  CHECK_FALSE(failures[0].permanent);
  CHECK(failures[0].cause == "mitigation");
  CHECK(failures[0].retry_after > std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch()).count());
  CHECK(failures[0].reason.find("does not validate") != std::string::npos);
  CHECK(d.plan().empty());
}

TEST_CASE("NginxRules: a mitigation whose probe fails is rolled back", "[integration][nginx]") {
  UpstreamApp app;
  PrivateNginx nginx(app.port());
  Deployment d(target_of(nginx), {}, kVulnerable);
  // Blocks all of OWA, but its own probe says OWA must keep working: the probe must catch it.
  d.write("manifests/BAD.json", R"({"schema":1,"id":"BAD","revision":1,"title":"too broad",
    "applies_to":{"product":"exchange","fixed_in":"15.2.1118.20"},
    "actions":[{"kind":"rewrite_rule","name":"too broad","when":[{"input":"path","pattern":"^/owa"}],"respond":"deny"}],
    "probes":[{"request":{"target":"/owa/"},"expect":"passed"}]})");
  ApplyOutcome out = d.converge();
  CHECK(out.failed == 1);
  CHECK(reached_app(request(nginx.url(), "GET", "/owa/")));
  CHECK(files_in(nginx.server_dir()) == 0);
  CHECK(d.store().ledger().empty());
  auto failed = d.store().audit_query({std::nullopt, std::nullopt, std::string("BAD"), std::string("failed"), std::nullopt});
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].message.find("GET /owa/ should pass but got status 403") != std::string::npos);
}

// Issue 13, observed 3: switching rules_engine back from "module" to "config" rewrote one
// mitigation per reload, so each candidate still held another file's mitigd_rule; with the module
// gone, every candidate failed. The switch is now one transaction: all files, one reload.
TEST_CASE("NginxRules: switching rules_engine re-renders every rule file in one transaction, even with the module gone",
          "[integration][nginx]") {
  REQUIRE(fs::exists(MITIGD_NGINX_MODULE_SO));
  UpstreamApp app;
  PrivateNginx nginx(app.port());
  Deployment d(target_of(nginx, "module"), {"M1", "PL1", "M2"}, kVulnerable);
  REQUIRE(d.converge().applied == 3);
  // The operator removes the module (package purged), then switches the engine.
  std::string conf_path = nginx.prefix() + "/conf/nginx.conf";
  std::ifstream in(conf_path);
  std::string conf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = conf.find(std::string("load_module ") + MITIGD_NGINX_MODULE_SO + ";\n");
  REQUIRE(at != std::string::npos);
  conf.erase(at, std::string("load_module ").size() + std::string(MITIGD_NGINX_MODULE_SO).size() + 2);
  std::ofstream(conf_path, std::ios::trunc) << conf;
  std::ifstream inv_in(d.dir() + "/inventory.json");
  std::string inv((std::istreambuf_iterator<char>(inv_in)), std::istreambuf_iterator<char>());
  auto engine_at = inv.find("\"rules_engine\":\"module\"");
  REQUIRE(engine_at != std::string::npos);
  inv.replace(engine_at, std::string("\"rules_engine\":\"module\"").size(), "\"rules_engine\":\"config\"");
  d.write("inventory.json", inv);

  ApplyOutcome switched = d.converge();
  CHECK(switched.failed == 0);
  CHECK(switched.waiting == 0);
  CHECK(switched.repaired == 2);  // M1 and PL1 (M2, a response header, renders the same for both engines)
  CHECK(d.plan().empty());
  for (const auto& e : fs::directory_iterator(nginx.server_dir())) {
    std::ifstream f(e.path());
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    INFO(e.path());
    CHECK(text.find("mitigd_rule") == std::string::npos);
  }
  for (const Req& r : exploit_requests()) {
    INFO("after the switch: " << r.method << " " << r.target);
    ProbeResponse got = request(nginx.url(), r.method, r.target, r.headers);
    CHECK((got.dropped || got.status == 403 || got.status == 503 || !reached_app(got)));
  }
  // nginx itself validates as it runs now (and would start after a reboot).
  CHECK(std::system(("nginx -t -q -p " + nginx.prefix() + " -c conf/nginx.conf -e logs/error.log 2>/dev/null").c_str()) == 0);
}

// Security review, issue 14 finding 7: a pattern near the manifest's limit could never be applied on
// nginx (after quoting it exceeded nginx's parameter length). The limit is now what nginx accepts.
TEST_CASE("NginxRules: a pattern at the manifest's quoted-size limit applies on both engines", "[integration][nginx]") {
  std::string engine = GENERATE(as<std::string>{}, "config", "module");
  INFO("rules_engine " << engine);
  UpstreamApp app;
  PrivateNginx nginx(app.port());
  Deployment d(target_of(nginx, engine), {}, kVulnerable);
  // "^/long" and 1,330 escaped dots "\.": 2,666 bytes, 3,996 once quoted (each backslash counts
  // twice), just under the 4,000 limit. (In the JSON below each backslash is written escaped.)
  std::string pattern = "^/long";
  while (pattern.size() + 3 <= 3996) pattern += "\\\\.";
  d.write("manifests/LONG.json", R"({"schema":1,"id":"LONG","revision":1,"title":"long pattern",
    "applies_to":{"product":"exchange","fixed_in":"15.2.1118.20"},
    "actions":[{"kind":"rewrite_rule","name":"long","when":[{"input":"path","pattern":")" + pattern + R"("}],"respond":"deny"}]})");
  ApplyOutcome out = d.converge();
  CHECK(out.applied == 1);
  CHECK(out.failed == 0);
  std::string target = "/long" + std::string((pattern.size() - 6) / 3, '.');
  CHECK(request(nginx.url(), "GET", target).status == 403);
  CHECK(reached_app(request(nginx.url(), "GET", "/long")));
}
