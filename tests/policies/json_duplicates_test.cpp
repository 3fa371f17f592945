// Security review, issue 14 finding 6: the last of two equal keys won in the parser while the policy
// editor edited the first, so `block M1` printed "blocked M1" and nothing was blocked.
#include "policies/inventory.hpp"
#include "policies/json_duplicates.hpp"
#include "policies/manifest.hpp"
#include "policies/policy.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

TEST_CASE("JSON: a key that appears twice is refused in every input, with file, line and path", "[policies][security]") {
  auto policy = parse_policy_file("org.json", "{\n  \"blocked\": [],\n  \"mitigations_enabled\": true,\n  \"blocked\": [{\"id\": \"M1\"}]\n}");
  REQUIRE_FALSE(policy);
  CHECK(policy.error().message == "org.json:4: the top-level object: key \"blocked\" appears twice (which one counts would be "
                                  "ambiguous): expected each key once");
  // Escapes do not make a different key.
  auto m = parse_manifest("M1.json", R"({"schema":1,"id":"M1","revision":1,"title":"t","applies_to":{"product":"p"},
    "actions":[{"kind":"disable_service","service":"s","\u0073ervice":"other"}]})");
  REQUIRE_FALSE(m);
  CHECK(m.error().message.find("actions[0]: key \"service\" appears twice") != std::string::npos);
  auto inv = parse_inventory("inv.json", R"({"host":"a","host":"b","products":{}})");
  REQUIRE_FALSE(inv);
  CHECK(inv.error().message.find("key \"host\" appears twice") != std::string::npos);
  // Equal keys in different objects are fine.
  CHECK_FALSE(json_input::find_duplicate_key(R"({"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]})"));
  auto dup = json_input::find_duplicate_key(R"({"a":[{"x":1},{"y":2,"y":3}]})");
  REQUIRE(dup);
  CHECK(dup->path == "a[1]");
}
