#include "feed/manifest_source.hpp"
#include "policies/rule_eval.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

namespace {
const Manifest& example(const std::string& id) {
  static auto set = feed::load_manifest_dir(std::string(MITIGD_SOURCE_DIR) + "/examples/manifests");
  REQUIRE(set.has_value());
  for (const auto& m : set->manifests) {
    if (m.id == id) return m;
  }
  FAIL("no example " << id);
  throw;
}
bool blocked(const std::string& id, HttpRequest r) { return evaluate_request(example(id), r).blocked; }
}  // namespace

TEST_CASE("M1.1 offline: exploit variants are blocked", "[policies][rules][M1]") {
  for (const char* target : {
           "/autodiscover/autodiscover.json?@evil.com/owa/&Email=autodiscover/autodiscover.json%3F@evil.com&Protocol=XYZ&FooProtocol=Powershell",
           "/autodiscover/autodiscover.json?@evil.com/%50owershell",
           "/AutoDiscover/AutoDiscover.json?@evil.com/POWERSHELL",
           "/autodiscover%2Ejson?a=%70%6f%77%65%72%73%68%65%6c%6c",
           "/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@x.com/PowerShell",
           "/powershell/?x=autodiscover",           // reordered
           "/autodiscover/x?%0apowershell",         // a decoded newline must not split the lookahead
           "/a%75todiscover/p%6Fwershell",
       }) {
    INFO(target);
    CHECK(blocked("M1", {"GET", target, {}}));
  }
}

TEST_CASE("M1.1 offline: Exchange-like traffic and look-alikes pass", "[policies][rules][M1]") {
  for (auto [method, target] : std::vector<std::pair<const char*, const char*>>{
           {"POST", "/autodiscover/autodiscover.xml"},
           {"GET", "/owa/?q=powershell"},
           {"GET", "/owa/#path=/mail/search?q=autodiscover"},
           {"POST", "/EWS/Exchange.asmx"},
           {"POST", "/mapi/emsmdb/?MailboxId=abc@contoso.com"},
           {"POST", "/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=b&DeviceType=iPhone"},
           {"GET", "/powershell/?serializationLevel=Full"},
       }) {
    INFO(method << " " << target);
    CHECK_FALSE(blocked("M1", {method, target, {}}));
  }
}

TEST_CASE("ProxyLogon offline: routing cookies are blocked, ordinary cookies pass", "[policies][rules][PL1]") {
  CHECK(blocked("PL1", {"GET", "/ecp/y.js", {{"Cookie", "X-BEResource=localhost/EWS/Exchange.asmx?a=~1942062522"}}}));
  CHECK(blocked("PL1", {"GET", "/ecp/y.js", {{"Cookie", "a=b; x-beresource=Admin@mail01:444/mapi/emsmdb?~1942062522"}}}));
  CHECK(blocked("PL1", {"GET", "/ecp/y.js", {{"Cookie", "X-BEResource=localhost%2FEWS%2FExchange.asmx?a=%7E1"}}}));
  CHECK(blocked("PL1", {"GET", "/owa/auth/x.js", {{"Cookie", "X-AnonResource-Backend=localhost/ecp/default.flt?~3"}}}));
  CHECK_FALSE(blocked("PL1", {"GET", "/owa/", {{"Cookie", "X-BackEndCookie=S-1-5-21=abc; X-BEResource=mailbox01"}}}));
  CHECK_FALSE(blocked("PL1", {"GET", "/owa/", {}}));
}

TEST_CASE("Scope: a prefix matches the normalised path, case-insensitively", "[policies][rules]") {
  CHECK(scope_matches("/owa/", "/owa"));
  CHECK(scope_matches("/owa/", "/OWA/x"));
  CHECK_FALSE(scope_matches("/owa/", "/owax"));
  CHECK(scope_matches("/", "/anything"));
}
