#include "feed/manifest_source.hpp"
#include "policies/inventory.hpp"
#include "policies/manifest.hpp"
#include "policies/policy.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

namespace {

std::string minimal(const std::string& action_json) {
  return R"({"schema":1,"id":"T1","revision":1,"title":"t","applies_to":{"product":"exchange"},"actions":[)" +
         action_json + "]}";
}

std::string error_of(const std::string& text) {
  auto m = parse_manifest("bad.json", text);
  REQUIRE_FALSE(m);
  return m.error().message;
}

}  // namespace

TEST_CASE("Manifest: the examples load, every pattern compiled", "[policies][manifest]") {
  auto set = feed::load_manifest_dir(std::string(MITIGD_SOURCE_DIR) + "/examples/manifests");
  REQUIRE(set.has_value());
  REQUIRE(set->manifests.size() == 5);
  const Manifest& m1 = set->manifests[2];
  CHECK(m1.id == "M1");
  const auto& rule = std::get<RewriteRule>(m1.actions[0].detail);
  CHECK(rule.when[0].decode);
  CHECK(rule.when[0].pattern.effective() == "(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)(?s)^(?:(?=.*autodiscover)(?=.*powershell))");
  CHECK(rule.respond.kind == RuleResponse::Kind::abort);
}

TEST_CASE("Manifest: a JSON syntax error names file, line and column", "[policies][manifest]") {
  std::string msg = error_of("{\n  \"schema\": 1,\n  \"id\": \"M1\"\n  \"revision\": 2\n}");
  CHECK(msg.rfind("bad.json:4:", 0) == 0);
  CHECK(msg.find("JSON syntax error") != std::string::npos);
}

TEST_CASE("Manifest: an unknown field is an error with its path", "[policies][manifest]") {
  std::string msg = error_of(minimal(R"({"kind":"rewrite_rule","when":[{"input":"path","patern":"x"}],"respond":"deny"})"));
  CHECK(msg.find("bad.json: actions[0].when[0].patern: expected no such field") == 0);
}

TEST_CASE("Manifest: a bad regex names the mitigation, the action and PCRE2's message", "[policies][manifest]") {
  std::string msg = error_of(minimal(R"J({"kind":"rewrite_rule","name":"r","when":[{"input":"path","pattern":"(unclosed"}],"respond":"deny"})J"));
  CHECK(msg.find("actions[0].when[0].pattern") != std::string::npos);
  CHECK(msg.find("missing closing parenthesis") != std::string::npos);
  CHECK(msg.find("mitigation T1, action \"r\"") != std::string::npos);
}

TEST_CASE("Manifest: schema errors say what was expected", "[policies][manifest]") {
  CHECK(error_of(R"({"schema":2})").find("schema: expected an integer from 1 to 1") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"reboot"})")).find("actions[0].kind: expected one of") != std::string::npos);
  CHECK(error_of(R"({"schema":1,"id":"T1","revision":1,"title":"t","applies_to":{"product":"exchange","fixed_in":"15.x"},"actions":[]})")
            .find("applies_to.fixed_in: expected a dotted version") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"disable_service"})")).find("actions[0].service: expected this required field") != std::string::npos);
}

TEST_CASE("Manifest: attempts to inject configuration are refused", "[policies][manifest][security]") {
  // A quote would end the config string; a newline, a new directive; ${ expands in Apache.
  CHECK(error_of(minimal(R"({"kind":"rewrite_rule","when":[{"input":"path","pattern":"x\"; return 200; #"}],"respond":"deny"})"))
            .find("no double quote") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"rewrite_rule","when":[{"input":"path","pattern":"x\n}"}],"respond":"deny"})"))
            .find("printable ASCII only") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"rewrite_rule","when":[{"input":"path","pattern":"a${HOME}"}],"respond":"deny"})"))
            .find("no '${'") != std::string::npos);
  CHECK(error_of(minimal(R"J({"kind":"rewrite_rule","when":[{"input":"path","pattern":"(*LIMIT_MATCH=1)x"}],"respond":"deny"})J"))
            .find("PCRE2 verbs") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"rewrite_rule","name":"a; } server { listen 81","when":[{"input":"path","pattern":"x"}],"respond":"deny"})"))
            .find("actions[0].name: expected a name of printable ASCII without") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"rewrite_rule","scope":"/owa/\"; }","when":[{"input":"path","pattern":"x"}],"respond":"deny"})"))
            .find("actions[0].scope") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"response_header","header":"X-A","set":"v; $remote_addr"})")).find("actions[0].set") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"response_header","header":"X-A {","set":"v"})")).find("actions[0].header") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"rewrite_rule","when":[{"input":"header:X-A;b","pattern":"x"}],"respond":"deny"})"))
            .find("actions[0].when[0].input") != std::string::npos);
  CHECK(error_of(minimal(R"({"kind":"response_header","header":"X-A","set":"100%"})")).find("actions[0].set") != std::string::npos);
}

TEST_CASE("Manifest: sizes and counts are capped", "[policies][manifest]") {
  std::string many = "[";
  for (int i = 0; i < 33; ++i) many += std::string(i ? "," : "") + R"({"kind":"disable_service","service":"s"})";
  many += "]";
  std::string text = R"({"schema":1,"id":"T1","revision":1,"title":"t","applies_to":{"product":"p"},"actions":)" + many + "}";
  CHECK(error_of(text).find("actions: expected an array of at most 32 items") != std::string::npos);
  CHECK(error_of(std::string(300 * 1024, ' ')).find("larger than") != std::string::npos);
}

TEST_CASE("Policy: blocklist entries, until, and errors with paths", "[policies][policy]") {
  auto p = parse_policy_file("org.json", R"({"mitigations_enabled":true,"blocked":[{"id":"M2","reason":"breaks printing","until":"2026-12-31"}]})");
  REQUIRE(p.has_value());
  REQUIRE(p->blocked.size() == 1);
  CHECK(format_utc(*p->blocked[0].until_time) == "2027-01-01T00:00:00Z");
  auto bad = parse_policy_file("org.json", R"({"blocked":[{"id":"M2","untill":"2026-12-31"}]})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "org.json: blocked[0].untill: expected no such field (unknown fields are refused so that a typo cannot drop a setting)");
  auto mode = parse_policy_file("org.json", R"({"mode":"dryrun"})");
  REQUIRE_FALSE(mode);
  CHECK(mode.error().message.find("mode: expected \"enforce\" or \"dry-run\"") != std::string::npos);
}

TEST_CASE("Inventory: the example loads, references are checked", "[policies][inventory]") {
  auto inv = load_inventory(std::string(MITIGD_SOURCE_DIR) + "/examples/server/inventory.json");
  REQUIRE(inv.has_value());
  CHECK(inv->host == "mail01");
  REQUIRE(inv->web_server);
  CHECK(inv->web_server->validate[0].find("/examples/server/nginxctl") != std::string::npos);
  auto bad = parse_inventory("inv.json", R"({"host":"h","vdirs":{"ecp":{"prefix":"/ecp/","app_pool":"nope"}}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("vdirs.ecp.app_pool: expected the name of an app pool") != std::string::npos);
}

TEST_CASE("Manifest: named groups are refused (they would become nginx variables)", "[policies][manifest][security]") {
  CHECK(error_of(minimal(R"J({"kind":"rewrite_rule","when":[{"input":"path","pattern":"(?<mitigd_f_4d31_0>x)"}],"respond":"deny"})J"))
            .find("no named groups") != std::string::npos);
  CHECK(error_of(minimal(R"J({"kind":"rewrite_rule","when":[{"input":"path","pattern":"(?P<uri>x)"}],"respond":"deny"})J"))
            .find("no named groups") != std::string::npos);
  // Lookbehind uses the same opening and stays allowed.
  CHECK(parse_manifest("ok.json", minimal(R"J({"kind":"rewrite_rule","when":[{"input":"path","pattern":"(?<!a)b(?<=b)"}],"respond":"deny"})J")).has_value());
}

TEST_CASE("Manifest: body inputs, body_cap, oversize and mode are strict", "[policies][manifest]") {
  auto ok = parse_manifest("m.json", minimal(R"({"kind":"rewrite_rule","mode":"detect","body_cap":4096,"oversize":"block",
      "when":[{"input":"body_arg:cmd","decode":true,"contains":";id"},{"input":"files","ends_with":".jsp"}],"respond":"deny"})"));
  REQUIRE(ok);
  const auto& rule = std::get<RewriteRule>(ok->actions[0].detail);
  CHECK(rule.reads_body());
  CHECK(rule.body_cap == 4096);
  CHECK(rule.oversize_block);
  CHECK(ok->mode_of(ok->actions[0]) == RuleMode::detect);
  CHECK(rule_module_only_reason(*ok, ok->actions[0], rule).find("reads the request body") != std::string::npos);
  CHECK_THAT(error_of(minimal(R"({"kind":"rewrite_rule","body_cap":10,"when":[{"input":"path","contains":"/x"}],"respond":"deny"})")),
             Catch::Contains("actions[0].body_cap") && Catch::Contains("no condition of this rule reads the body"));
  CHECK_THAT(error_of(minimal(R"({"kind":"rewrite_rule","body_cap":2000000,"when":[{"input":"body","contains":"x"}],"respond":"deny"})")),
             Catch::Contains("body_cap"));
  CHECK_THAT(error_of(minimal(R"({"kind":"rewrite_rule","oversize":"drop","when":[{"input":"body","contains":"x"}],"respond":"deny"})")),
             Catch::Contains("oversize"));
  CHECK_THAT(error_of(minimal(R"({"kind":"rewrite_rule","mode":"watch","when":[{"input":"body","contains":"x"}],"respond":"deny"})")),
             Catch::Contains("actions[0].mode") && Catch::Contains("\"detect\""));
  CHECK_THAT(error_of(minimal(R"({"kind":"rewrite_rule","when":[{"input":"bodies","contains":"x"}],"respond":"deny"})")),
             Catch::Contains("body_arg:NAME"));
  CHECK_THAT(error_of(minimal(R"({"kind":"disable_service","service":"x","mode":"detect"})")), Catch::Contains("actions[0].mode"));
}

TEST_CASE("Policy: rule_modes override a manifest's mode, server over org", "[policies][policy]") {
  auto org = parse_policy_file("org.json", R"({"rule_modes":{"M1":"detect","M2":"enforce"}})");
  REQUIRE(org);
  auto server = parse_policy_file("servers/h.json", R"({"rule_modes":{"M1":"enforce"}})");
  REQUIRE(server);
  Policy p;
  p.org = *org;
  p.server = *server;
  CHECK(p.rule_mode("M1") == "enforce");
  CHECK(p.rule_mode("M2") == "enforce");
  CHECK(p.rule_mode("M3").empty());
  auto bad = parse_policy_file("org.json", R"({"rule_modes":{"M1":"watch"}})");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("rule_modes.M1") && Catch::Contains("\"detect\" or \"enforce\""));
  CHECK_FALSE(parse_policy_file("org.json", R"({"rule_modes":{"1bad id":"detect"}})"));
  auto m = parse_manifest("m.json", minimal(R"({"kind":"rewrite_rule","mode":"detect","when":[{"input":"path","contains":"/x"}],"respond":"deny"})"));
  REQUIRE(m);
  apply_rule_mode(*m, "enforce");
  CHECK(m->mode_of(m->actions[0]) == RuleMode::enforce);
}
