#include "feed/manifest_source.hpp"
#include "reconcilers/web_rules.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

namespace {
Manifest example(const std::string& id) {
  auto set = feed::load_manifest_dir(std::string(MITIGD_SOURCE_DIR) + "/examples/manifests");
  REQUIRE(set.has_value());
  for (auto& m : set->manifests) {
    if (m.id == id) return m;
  }
  FAIL("no example " << id);
  throw;
}
}  // namespace

TEST_CASE("NginxRules: M1.1 compiles to a decoded, anchored, case-insensitive rule that drops", "[reconcilers][nginx]") {
  Manifest m = example("M1");
  auto files = web::render(WebServerKind::nginx, m, {0}, Inventory{});
  REQUIRE(files.has_value());
  REQUIRE(files->size() == 1);
  const std::string& text = (*files)[0].text;
  CHECK(text.rfind("# mitigd-managed id=M1 revision=2 sha256=", 0) == 0);
  CHECK(text.find("$mitigd_request_uri_decoded ~* \"(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)(?s)^(?:(?=.*autodiscover)(?=.*powershell))\"") != std::string::npos);
  CHECK(text.find("return 444;") != std::string::npos);
  auto marker = web::read_marker(text);
  REQUIRE(marker);
  CHECK(marker->body_matches);
  CHECK_FALSE(web::read_marker(text + "# edited\n")->body_matches);
}

TEST_CASE("NginxRules: backslashes and quotes are escaped for nginx's string syntax", "[reconcilers][nginx][security]") {
  CHECK(web::nginx_quote("a\\d+") == "\"a\\\\d+\"");
  CHECK(web::nginx_quote("x\"y") == "\"x\\\"y\"");
}

TEST_CASE("ApacheRules: the raw request target comes from THE_REQUEST, decoded by the unescape map", "[reconcilers][apache]") {
  Manifest m = example("M1");
  auto files = web::render(WebServerKind::apache, m, {0}, Inventory{});
  REQUIRE(files.has_value());
  const std::string& text = (*files)[0].text;
  CHECK(text.find("RewriteCond %{THE_REQUEST}") != std::string::npos);
  CHECK(text.find("RewriteCond ${mitigd_unescape:%1} \"(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)(?s)^(?:(?=.*autodiscover)(?=.*powershell))\" [NC]") != std::string::npos);
  CHECK(text.find("[F,L,E=nokeepalive:1]") != std::string::npos);
}

TEST_CASE("NginxRules, module engine: one mitigd_rule per rule, with its literal gate in hex", "[reconcilers][nginx]") {
  Inventory inv;
  inv.web_server.emplace();
  inv.web_server->rules_engine = RulesEngine::module;
  auto files = web::render(WebServerKind::nginx, example("M1"), {0}, inv);
  REQUIRE(files.has_value());
  const std::string& text = (*files)[0].text;
  // "autodiscover" in hex: the gate; the pattern is the one the config engine uses.
  CHECK(text.find("mitigd_rule \"M1#0\" 444\n    when \"request_uri\" decoded ~* "
                  "\"(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)(?s)^(?:(?=.*autodiscover)(?=.*powershell))\" literals 6175746f646973636f766572;\n") !=
        std::string::npos);
  CHECK(text.find("if (") == std::string::npos);
  // The prelude leaves decoding to the module (no set-misc needed).
  auto prelude = web::render_prelude(WebServerKind::nginx, "00112233", RulesEngine::module);
  CHECK(prelude[0].text.find("set_unescape_uri") == std::string::npos);
}

TEST_CASE("NginxRules, module engine: scope, several conditions, a negated one, bytes written as \\xHH",
          "[reconcilers][nginx][security]") {
  auto m = parse_manifest("t.json", R"({"schema": 1, "id": "T1", "revision": 3, "title": "t",
    "applies_to": {"product": "exchange", "fixed_in": "15.2.1"},
    "actions": [{"kind": "rewrite_rule", "name": "r", "scope": "/ecp/",
      "when": [{"input": "header:User-Agent", "pattern": "^curl/"},
               {"input": "query", "decode": true, "pattern": "\\x22;}evil\\x0a"},
               {"input": "method", "pattern": "^GET$", "negate": true}],
      "respond": "deny"}]})");
  REQUIRE(m.has_value());
  Inventory inv;
  inv.web_server.emplace();
  inv.web_server->rules_engine = RulesEngine::module;
  auto files = web::render(WebServerKind::nginx, *m, {0}, inv);
  REQUIRE(files.has_value());
  const std::string& text = (*files)[0].text;
  INFO(text);
  CHECK(text.find("mitigd_rule \"T1#0\" 403\n    scope \"^/ecp(?:/|$)\"\n") != std::string::npos);
  CHECK(text.find("    when \"header:user-agent\" raw ~* \"(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)(?s)(?:^curl/)\"\n") != std::string::npos);
  // The gate is the most selective set: the query's bytes "\";}evil\n", as hex, so that nothing
  // from the manifest reaches the config unquoted.
  CHECK(text.find("    when \"query\" decoded ~* \"(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)(?s)(?:\\\\x22;}evil\\\\x0a)\" literals 223b7d6576696c0a\n") !=
        std::string::npos);
  CHECK(text.find("    when \"method\" raw !~* \"(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)(?s)(?:^GET$)\";\n") != std::string::npos);
}

// Security review, issue 14 finding 8: backslashes in a content_type pattern changed meaning inside
// Apache's "expr=..." (a\\ failed to load, text\\\\ ran another regex): refused with the way out.
TEST_CASE("ApacheRules: a content_type pattern with a backslash is refused, not rewritten", "[reconcilers][security]") {
  auto m = mitigd::parse_manifest("CT1.json", R"({"schema":1,"id":"CT1","revision":1,"title":"t","applies_to":{"product":"p"},
    "actions":[{"kind":"response_header","name":"h","content_type":"^text/html\\b","header":"X-Test","set":"1"}]})");
  REQUIRE(m);
  mitigd::Inventory inv;
  auto files = mitigd::web::render(mitigd::WebServerKind::apache, *m, {0}, inv);
  REQUIRE_FALSE(files);
  CHECK(files.error().message.find("content_type: a pattern without backslashes on Apache") != std::string::npos);
  CHECK(mitigd::web::render(mitigd::WebServerKind::nginx, *m, {0}, inv));
}
