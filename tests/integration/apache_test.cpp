#include "tests/integration/deployment.hpp"

#include <filesystem>

using namespace mitigd;
using namespace mitigd::testing;

TEST_CASE("ApacheRules: exploits reach the app before, are refused after apply, and pass again after revert",
          "[integration][apache]") {
  UpstreamApp app;
  PrivateApache apache(app.port());
  Deployment d(target_of(apache), {"M1", "PL1", "ECP1"}, "15.2.397.3");
  for (const Req& r : exploit_requests()) {
    INFO("before apply: " << r.method << " " << r.target);
    CHECK(reached_app(request(apache.url(), r.method, r.target, r.headers)));
  }
  ApplyOutcome applied = d.converge();
  CHECK(applied.applied == 3);
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
  CHECK(d.plan().empty());
  d.set_version("15.2.1544.30");
  CHECK(d.converge().reverted == 3);
  for (const Req& r : exploit_requests()) {
    INFO("after revert: " << r.method << " " << r.target);
    CHECK(reached_app(request(apache.url(), r.method, r.target, r.headers)));
  }
}
