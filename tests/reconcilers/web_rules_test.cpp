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
  CHECK(text.find("$mitigd_request_uri_decoded ~* \"(?s)^(?:(?=.*autodiscover)(?=.*powershell))\"") != std::string::npos);
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
  CHECK(text.find("RewriteCond ${mitigd_unescape:%1} \"(?s)^(?:(?=.*autodiscover)(?=.*powershell))\" [NC]") != std::string::npos);
  CHECK(text.find("[F,L,E=nokeepalive:1]") != std::string::npos);
}
