#include "policies/desired.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

namespace {

Manifest manifest(const std::string& id, const char* fixed_in = "15.2.1118.20") {
  std::string text = R"({"schema":1,"id":")" + id + R"(","revision":3,"title":"t","applies_to":{"product":"exchange","min":"15.0.0.0","fixed_in":")" +
                     fixed_in + R"("},"expires":"2030-01-01T00:00:00Z","actions":[{"kind":"rewrite_rule","when":[{"input":"path","pattern":"x"}],"respond":"deny"}]})";
  auto m = parse_manifest(id + ".json", text);
  REQUIRE(m.has_value());
  return *m;
}

struct Fixture {
  std::vector<Manifest> manifests{manifest("M1"), manifest("M2")};
  Policy policy;
  Inventory inventory;
  DesiredInputs in;
  Fixture() {
    policy.host = "mail01";
    inventory.host = "mail01";
    inventory.products["exchange"] = Product{"exchange", VersionScheme::dotted, {}};
    inventory.web_server = WebServer{};
    in.manifests = &manifests;
    in.policy = &policy;
    in.inventory = &inventory;
    in.installed["exchange"] = {std::string("15.2.1118.7"), "file v", ""};
    in.now = *parse_utc_timestamp("2026-11-24T12:00:00Z");
  }
  Decision decide(const std::string& id) {
    for (auto& d : evaluate_desired(in)) {
      if (d.id == id) return d;
    }
    FAIL("no decision for " << id);
    throw;
  }
};

}  // namespace

TEST_CASE("Desired: a vulnerable server wants the mitigation, with the reasons", "[policies][desired]") {
  Fixture f;
  Decision d = f.decide("M1");
  CHECK(d.status == Status::applicable);
  CHECK(d.want == Want::present);
  CHECK(d.reasons.size() >= 6);
}

TEST_CASE("Desired: installing fixed_in supersedes and reverts, whatever auto_revert says", "[policies][desired]") {
  Fixture f;
  f.policy.org.auto_revert = false;
  f.in.installed["exchange"].version = "15.2.1118.20";
  Decision d = f.decide("M1");
  CHECK(d.status == Status::superseded);
  CHECK(d.want == Want::absent);
  CHECK(d.superseded_by == "15.2.1118.20");
}

TEST_CASE("Desired: blocked at organisation or server level, until a date", "[policies][desired]") {
  Fixture f;
  f.policy.server.blocked.push_back({"M1", "breaks printing", "alice", std::string("2026-12-31"), parse_until("2026-12-31")});
  Decision d = f.decide("M1");
  CHECK(d.status == Status::blocked);
  CHECK(d.summary.find("server mail01") != std::string::npos);
  CHECK(d.summary.find("breaks printing") != std::string::npos);
  f.in.now = *parse_utc_timestamp("2027-01-01T00:00:00Z");
  CHECK(f.decide("M1").status == Status::applicable);
}

TEST_CASE("Desired: enablement is organisation AND server, auto_revert decides revert or hold", "[policies][desired]") {
  Fixture f;
  f.policy.server.mitigations_enabled = false;
  CHECK(f.decide("M1").status == Status::disabled);
  CHECK(f.decide("M1").want == Want::absent);
  f.policy.org.auto_revert = false;
  CHECK(f.decide("M1").want == Want::hold);
}

TEST_CASE("Desired: expired, not applicable, unknown version, withdrawn, failed", "[policies][desired]") {
  Fixture f;
  f.in.now = *parse_utc_timestamp("2030-01-01T00:00:00Z");
  CHECK(f.decide("M1").status == Status::expired);
  Fixture g;
  g.in.installed["exchange"].version = "14.3.0.0";
  CHECK(g.decide("M1").status == Status::not_applicable);
  g.in.installed["exchange"] = {std::nullopt, "file v", "permission denied"};
  CHECK(g.decide("M1").want == Want::hold);
  Fixture h;
  h.in.in_ledger["OLD"] = 7;
  CHECK(h.decide("OLD").status == Status::withdrawn);
  CHECK(h.decide("OLD").want == Want::absent);
  h.in.failures["M2"] = {3, 2, *parse_utc_timestamp("2026-11-24T13:00:00Z"), false, "probe failed", "apply", "mitigation", ""};
  CHECK(h.decide("M2").status == Status::failed);
  CHECK(h.decide("M2").want == Want::hold);
}

TEST_CASE("Desired: an expired feed keeps mitigations by default, reverts them when the policy says on_feed_expiry revert", "[policies][desired]") {
  using namespace mitigd;
  auto inv = parse_inventory("inv.json", R"({"host":"h","products":{"exchange":{"scheme":"dotted","version":{"file":"/nonexistent"}}},
    "web_server":{"kind":"nginx","http_include_dir":"/tmp","server_include_dir":"/tmp","validate":["true"],"reload":["true"],"probe_url":"http://127.0.0.1:1"}})");
  REQUIRE(inv);
  auto m = parse_manifest("M9.json", R"({"schema":1,"id":"M9","revision":1,"title":"t","description":"d","cves":[],"severity":"high",
    "applies_to":{"product":"exchange","scheme":"dotted","min":"1.0","fixed_in":"9.0"},
    "actions":[{"kind":"rewrite_rule","name":"r","when":[{"input":"request_uri","pattern":"x"}],"respond":"abort"}]})");
  REQUIRE(m);
  std::vector<Manifest> manifests{*m};
  for (bool revert : {false, true}) {
    auto policy = parse_policy_file("org.json", revert ? R"({"on_feed_expiry":"revert"})" : R"({"on_feed_expiry":"keep"})");
    REQUIRE(policy);
    Policy p;
    p.org = *policy;
    DesiredInputs in;
    in.manifests = &manifests;
    in.policy = &p;
    in.inventory = &*inv;
    in.installed["exchange"] = InstalledVersion{std::string("5.0"), "test", ""};
    in.now = *parse_utc_timestamp("2026-11-24T00:00:00Z");
    in.feed_expired_at = *parse_utc_timestamp("2026-11-20T00:00:00Z");
    auto d = evaluate_desired(in).at(0);
    if (revert) {
      CHECK(d.status == Status::expired);
      CHECK(d.want == Want::absent);
      CHECK(d.summary == "the signed feed expired at 2026-11-20T00:00:00Z and policy on_feed_expiry is revert");
    } else {
      CHECK(d.status == Status::applicable);
      CHECK(std::find(d.reasons.begin(), d.reasons.end(),
                      "the signed feed expired at 2026-11-20T00:00:00Z: kept in force (policy on_feed_expiry is keep)") != d.reasons.end());
    }
  }
  CHECK_FALSE(parse_policy_file("org.json", R"({"on_feed_expiry":"drop"})"));
}

TEST_CASE("Desired: a fix released on several branches (fixed per branch, Confluence CVE-2022-26134)", "[policies][desired]") {
  using namespace mitigd;
  auto inv = parse_inventory("inv.json", R"({"host":"h","products":{"confluence":{"scheme":"dotted","version":{"file":"/nonexistent"}}},
    "web_server":{"kind":"nginx","http_include_dir":"/tmp","server_include_dir":"/tmp","validate":["true"],"reload":["true"],"probe_url":"http://127.0.0.1:1"}})");
  REQUIRE(inv);
  auto m = parse_manifest("C1.json", R"({"schema":1,"id":"C1","revision":1,"title":"OGNL injection",
    "applies_to":{"product":"confluence","min":"1.3.0","fixed":[
      {"min":"7.4","fixed_in":"7.4.17","max":"7.5"},{"min":"7.13","fixed_in":"7.13.7","max":"7.14"},
      {"min":"7.14","fixed_in":"7.14.3","max":"7.15"},{"min":"7.15","fixed_in":"7.15.2","max":"7.16"},
      {"min":"7.16","fixed_in":"7.16.4","max":"7.17"},{"min":"7.17","fixed_in":"7.17.4","max":"7.18"},
      {"min":"7.18","fixed_in":"7.18.1"}]},
    "actions":[{"kind":"rewrite_rule","name":"r","when":[{"input":"request_uri","decode":true,"pattern":"\\$\\{"}],"respond":"deny"}]})");
  REQUIRE(m);
  std::vector<Manifest> manifests{*m};
  Policy p;
  auto decide = [&](const std::string& version) {
    DesiredInputs in;
    in.manifests = &manifests;
    in.policy = &p;
    in.inventory = &*inv;
    in.installed["confluence"] = InstalledVersion{version, "test", ""};
    return evaluate_desired(in).at(0);
  };
  CHECK(decide("7.4.16").status == Status::applicable);
  CHECK(decide("7.4.17").status == Status::superseded);
  CHECK(decide("7.4.17").summary == "security update installed: confluence 7.4.17 >= 7.4.17 (fixed_in of branch 7.4 to 7.5)");
  CHECK(decide("7.5.0").status == Status::applicable);   // a release line that got no fix
  CHECK(decide("7.12.9").status == Status::applicable);
  CHECK(decide("7.13.6").status == Status::applicable);
  CHECK(decide("7.13.7").status == Status::superseded);
  CHECK(decide("7.18.0").status == Status::applicable);
  CHECK(decide("7.18.1").status == Status::superseded);
  CHECK(decide("8.5.0").status == Status::superseded);   // the last branch extends to later versions
  CHECK(decide("7.3.9").status == Status::applicable);
  // Strict: overlapping or unsorted branches, and fixed with fixed_in, are refused.
  CHECK_FALSE(parse_manifest("C2.json", R"({"schema":1,"id":"C2","revision":1,"title":"t","applies_to":{"product":"p",
    "fixed":[{"min":"7.13","fixed_in":"7.13.7"},{"min":"7.4","fixed_in":"7.4.17"}]},
    "actions":[{"kind":"disable_service","service":"s"}]})"));
  CHECK_FALSE(parse_manifest("C3.json", R"({"schema":1,"id":"C3","revision":1,"title":"t","applies_to":{"product":"p","fixed_in":"2",
    "fixed":[{"min":"1","fixed_in":"1.5"}]},"actions":[{"kind":"disable_service","service":"s"}]})"));
}
