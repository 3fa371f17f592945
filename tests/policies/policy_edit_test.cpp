#include "policies/policy_edit.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

namespace {
BlockEntry entry(const std::string& id, const std::string& reason = "") {
  BlockEntry e;
  e.id = id;
  e.reason = reason;
  return e;
}
std::string changed_lines(const std::string& a, const std::string& b) {
  // Lines of b that are not in a (enough for a one-entry edit).
  std::string out;
  std::size_t i = 0;
  while (i < b.size()) {
    std::size_t nl = b.find('\n', i);
    std::string line = b.substr(i, nl == std::string::npos ? std::string::npos : nl - i + 1);
    if (a.find(line) == std::string::npos) out += line;
    if (nl == std::string::npos) break;
    i = nl + 1;
  }
  return out;
}
}  // namespace

TEST_CASE("PolicyEdit: block then unblock gives back the same bytes", "[policies][policy_edit]") {
  const std::vector<std::string> originals = {
      "{\n  \"mitigations_enabled\": true,\n  \"blocked\": []\n}\n",
      "{\n  \"mitigations_enabled\": true,\n  \"blocked\": [\n    { \"id\": \"M9\", \"reason\": \"old\" }\n  ]\n}\n",
      "{\n  \"blocked\": [\n    { \"id\": \"A1\" },\n    { \"id\": \"B2\", \"until\": \"2027-01-01\" }\n  ],\n  \"mode\": \"enforce\"\n}\n",
      "{ \"blocked\": [ { \"id\": \"A1\" }, { \"id\": \"B2\" } ] }",
      "{\"mitigations_enabled\":false,\"blocked\":[]}",
  };
  for (const std::string& original : originals) {
    INFO(original);
    auto blocked = policy_edit::block("org.json", original, {entry("M2", "breaks printing, \"really\"")});
    REQUIRE(blocked.has_value());
    auto parsed = parse_policy_file("org.json", *blocked);
    REQUIRE(parsed.has_value());
    CHECK(std::any_of(parsed->blocked.begin(), parsed->blocked.end(), [](const BlockEntry& e) { return e.id == "M2"; }));
    auto back = policy_edit::unblock("org.json", *blocked, {"M2"});
    REQUIRE(back.has_value());
    CHECK(*back == original);
  }
}

TEST_CASE("PolicyEdit: a block on a non-empty list is a one-line change", "[policies][policy_edit]") {
  std::string original = "{\n  \"blocked\": [\n    { \"id\": \"A1\" }\n  ]\n}\n";
  auto blocked = policy_edit::block("org.json", original, {entry("M2", "why")});
  REQUIRE(blocked.has_value());
  CHECK(changed_lines(original, *blocked) == "    { \"id\": \"M2\", \"reason\": \"why\" },\n");
  CHECK(blocked->size() == original.size() + changed_lines(original, *blocked).size());
}

TEST_CASE("PolicyEdit: unblock of the last entry, clear, enable/disable, and invalid files", "[policies][policy_edit]") {
  std::string two = "{\n  \"blocked\": [\n    { \"id\": \"A1\" },\n    { \"id\": \"B2\" }\n  ]\n}\n";
  auto without_b = policy_edit::unblock("org.json", two, {"B2"});
  REQUIRE(without_b.has_value());
  CHECK(*without_b == "{\n  \"blocked\": [\n    { \"id\": \"A1\" }\n  ]\n}\n");
  auto cleared = policy_edit::clear("org.json", two);
  REQUIRE(cleared.has_value());
  CHECK(*cleared == "{\n  \"blocked\": []\n}\n");
  auto disabled = policy_edit::set_enabled("org.json", "{\n  \"mitigations_enabled\": true\n}\n", false);
  REQUIRE(disabled.has_value());
  CHECK(*disabled == "{\n  \"mitigations_enabled\": false\n}\n");
  auto inserted = policy_edit::set_enabled("org.json", "{\n  \"mode\": \"enforce\"\n}\n", false);
  REQUIRE(inserted.has_value());
  CHECK(*inserted == "{\n  \"mitigations_enabled\": false,\n  \"mode\": \"enforce\"\n}\n");
  auto refused = policy_edit::block("org.json", "{ \"blocked\": 3 }", {entry("M1")});
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message.find("refusing to edit an invalid file") != std::string::npos);
}
