#include "reconcilers/plan.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

namespace {

Manifest manifest(const std::string& id, int revision = 1) {
  std::string text = R"({"schema":1,"id":")" + id + R"(","revision":)" + std::to_string(revision) +
                     R"(,"title":"t","applies_to":{"product":"exchange"},"actions":[
      {"kind":"rewrite_rule","when":[{"input":"path","pattern":"x"}],"respond":"deny"},
      {"kind":"rewrite_rule","when":[{"input":"path","pattern":"y"}],"respond":"abort"}]})";
  auto m = parse_manifest(id + ".json", text);
  REQUIRE(m.has_value());
  return *m;
}

Decision want(const Manifest& m, Want w, Status s = Status::applicable) {
  Decision d;
  d.id = m.id;
  d.revision = m.revision;
  d.manifest = &m;
  d.want = w;
  d.status = s;
  d.active_actions = {0, 1};
  d.summary = "because";
  return d;
}

state::LedgerRecord row(const std::string& id, int index, int revision, std::int64_t n, const char* phase = "applied") {
  state::LedgerRecord r;
  r.row = n;
  r.mitigation_id = id;
  r.revision = revision;
  r.action_index = index;
  r.kind = "rewrite_rule";
  r.resource = "web:" + id;
  r.phase = phase;
  return r;
}

Inventory inventory() {
  Inventory inv;
  inv.host = "h";
  inv.web_server = WebServer{};
  return inv;
}

}  // namespace

TEST_CASE("Plan: nothing applied yet gives one apply step per action, in order", "[reconcilers][plan]") {
  Manifest m = manifest("M1");
  Plan p = make_plan({want(m, Want::present)}, {}, {}, inventory(), Mode::enforce);
  REQUIRE(p.steps.size() == 2);
  CHECK(p.steps[0].op == Step::Op::apply);
  CHECK(p.steps[0].action_index == 0);
  CHECK(p.steps[1].action_index == 1);
}

TEST_CASE("Plan: after apply, with everything in force, the plan is empty", "[reconcilers][plan]") {
  Manifest m = manifest("M1");
  ObservedState obs;
  obs.actions[{"M1", 0}] = {ObservedAction::State::in_force, ""};
  obs.actions[{"M1", 1}] = {ObservedAction::State::in_force, ""};
  Plan p = make_plan({want(m, Want::present)}, obs, {row("M1", 0, 1, 1), row("M1", 1, 1, 2)}, inventory(), Mode::enforce);
  CHECK(p.empty());
}

TEST_CASE("Plan: a deleted rule file is drift, repaired with its reason", "[reconcilers][plan]") {
  Manifest m = manifest("M1");
  ObservedState obs;
  obs.actions[{"M1", 0}] = {ObservedAction::State::absent, "rule file mitigd-M1.conf is missing"};
  obs.actions[{"M1", 1}] = {ObservedAction::State::in_force, ""};
  Plan p = make_plan({want(m, Want::present)}, obs, {row("M1", 0, 1, 1), row("M1", 1, 1, 2)}, inventory(), Mode::enforce);
  REQUIRE(p.steps.size() == 1);
  CHECK(p.steps[0].op == Step::Op::repair);
  CHECK(p.steps[0].reason.find("is missing") != std::string::npos);
}

TEST_CASE("Plan: superseded reverts last action first, a new revision replaces the old", "[reconcilers][plan]") {
  Manifest m = manifest("M1", 2);
  std::vector<state::LedgerRecord> ledger{row("M1", 0, 1, 1), row("M1", 1, 1, 2)};
  Plan revert = make_plan({want(m, Want::absent, Status::superseded)}, {}, ledger, inventory(), Mode::enforce);
  REQUIRE(revert.steps.size() == 2);
  CHECK(revert.steps[0].op == Step::Op::revert);
  CHECK(revert.steps[0].action_index == 1);
  Plan upgrade = make_plan({want(m, Want::present)}, {}, ledger, inventory(), Mode::enforce);
  REQUIRE(upgrade.steps.size() == 4);
  CHECK(upgrade.steps[0].op == Step::Op::revert);
  CHECK(upgrade.steps[3].op == Step::Op::apply);
  CHECK(upgrade.steps[3].revision == 2);
}

TEST_CASE("Plan: an interrupted apply is completed, hold changes nothing", "[reconcilers][plan]") {
  Manifest m = manifest("M1");
  Plan p = make_plan({want(m, Want::present)}, {}, {row("M1", 0, 1, 1, "applying")}, inventory(), Mode::enforce);
  REQUIRE(p.steps.size() == 2);
  CHECK(p.steps[0].op == Step::Op::repair);
  CHECK(p.steps[0].reason.find("interrupted") != std::string::npos);
  Plan held = make_plan({want(m, Want::hold)}, {}, {row("M1", 0, 1, 1)}, inventory(), Mode::enforce);
  CHECK(held.empty());
}

TEST_CASE("Plan: deterministic, and the digest changes with the observed state", "[reconcilers][plan]") {
  Manifest a = manifest("A"), b = manifest("B");
  Plan p1 = make_plan({want(a, Want::present), want(b, Want::present)}, {}, {}, inventory(), Mode::enforce);
  Plan p2 = make_plan({want(a, Want::present), want(b, Want::present)}, {}, {}, inventory(), Mode::enforce);
  CHECK(p1.digest == p2.digest);
  ObservedState obs;
  obs.actions[{"A", 0}] = {ObservedAction::State::drifted, "edited"};
  Plan p3 = make_plan({want(a, Want::present), want(b, Want::present)}, obs, {}, inventory(), Mode::enforce);
  CHECK(p3.digest != p1.digest);
  Plan p4 = make_plan({want(a, Want::present), want(b, Want::present)}, {}, {}, inventory(), Mode::dry_run);
  CHECK(p4.digest != p1.digest);
}
