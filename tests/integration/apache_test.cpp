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
