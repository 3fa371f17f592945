#include "tests/integration/deployment.hpp"

#include <filesystem>

using namespace mitigd;
using namespace mitigd::testing;

TEST_CASE("ApacheRules: exploits reach the app before, are refused after apply, and pass again after revert",
          "[integration][apache]") {
  UpstreamApp app;
  PrivateApache apache(app.port());
  Deployment d(target_of(apache), {"M1", "PL1", "ECP1", "M2"}, "15.2.397.3");
  for (const Req& r : exploit_requests()) {
    INFO("before apply: " << r.method << " " << r.target);
    CHECK(reached_app(request(apache.url(), r.method, r.target, r.headers)));
  }
  ApplyOutcome applied = d.converge();
  CHECK(applied.applied == 4);
  CHECK(applied.failed == 0);
  for (const Req& r : exploit_requests()) {
    INFO("after apply: " << r.method << " " << r.target);
    ProbeResponse got = request(apache.url(), r.method, r.target, r.headers);
    CHECK((got.status == 403 || got.status == 503));
  }
  for (const Req& r : normal_requests()) {
    INFO("normal traffic: " << r.method << " " << r.target);
    CHECK(reached_app(request(apache.url(), r.method, r.target, r.headers)));
  }
  // M2.1 through mod_headers: the directive is appended to OWA's HTML answers only.
  check_m2_csp_on_owa_html_only(apache.url());
  CHECK(d.plan().empty());
  d.set_version("15.2.1544.30");
  CHECK(d.converge().reverted == 4);
  CHECK(header_value(request(apache.url(), "GET", "/owa/"), "Content-Security-Policy") == "default-src 'self'");
  for (const Req& r : exploit_requests()) {
    INFO("after revert: " << r.method << " " << r.target);
    CHECK(reached_app(request(apache.url(), r.method, r.target, r.headers)));
  }
}

// Security review, issue 14 finding 11: int:unescape returns a C string, so a decoded %00 hid the
// rest of the input from the condition (both requests below reached the application).
TEST_CASE("ApacheRules: a %00 in a decoded input cannot hide the rest of it (fails closed)", "[integration][apache][security]") {
  UpstreamApp app;
  PrivateApache apache(app.port());
  Deployment d(target_of(apache), {"M1"}, "15.2.397.3");
  d.write("manifests/BER1.json", R"({"schema":1,"id":"BER1","revision":1,"title":"X-BEResource cookie",
    "applies_to":{"product":"exchange","fixed_in":"15.2.1118.20"},
    "actions":[{"kind":"rewrite_rule","name":"ber","when":[{"input":"cookie:X-BEResource","decode":true,"pattern":"localhost"}],"respond":"deny"}]})");
  REQUIRE(d.converge().applied == 2);
  CHECK(request(apache.url(), "GET", "/autodiscover/autodiscover.json?x=%00&a@foo.var/owa/&Email=a&FooProtocol=Powershell").status == 403);
  CHECK(request(apache.url(), "GET", "/owa/", {{"Cookie", "a=%00; X-BEResource=localhost/EWS/Exchange.asmx?a=~1942062522"}}).status == 403);
  // A cookie in a second Cookie header (Apache joins them with ", ") is seen too.
  CHECK(request(apache.url(), "GET", "/owa/", {{"Cookie", "a=1"}, {"Cookie", "X-BEResource=localhost/EWS"}}).status == 403);
  // Benign look-alikes still pass.
  CHECK(reached_app(request(apache.url(), "GET", "/owa/?q=%2500")));
  CHECK(reached_app(request(apache.url(), "GET", "/owa/", {{"Cookie", "X-BEResource=mail01/EWS"}})));
}
