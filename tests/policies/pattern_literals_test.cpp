#include "policies/pattern.hpp"
#include "policies/pattern_literals.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace mitigd;

namespace {
using Set = std::optional<std::vector<std::string>>;
Set set(std::initializer_list<const char*> items) {
  std::vector<std::string> out(items.begin(), items.end());
  return out;
}

std::string folded(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The property the nginx module relies on: whenever the pattern matches, a literal occurs.
// Returns whether the pattern matched (so the property was actually exercised).
bool require_sound(const std::string& source, const std::string& subject) {
  auto literals = required_literals(source);
  if (!literals) return false;
  bool matched = false;
  for (bool case_sensitive : {false, true}) {
    auto pattern = Pattern::compile(source, case_sensitive);
    if (!pattern) return false;  // the generator can write what PCRE2 refuses
    // Only real matches: an engine error (match limit) is not a match the literals speak about.
    if (pattern->match(subject) != Pattern::Outcome::match) continue;
    matched = true;
    std::string haystack = folded(subject);
    bool found = false;
    for (const auto& l : *literals) found = found || haystack.find(l) != std::string::npos;
    INFO("pattern " << source << " subject " << subject);
    REQUIRE(found);
  }
  return matched;
}
}  // namespace

TEST_CASE("required literals of typical mitigation patterns", "[policies][prefilter]") {
  CHECK(required_literals("(?=.*autodiscover)(?=.*powershell)") == set({"autodiscover"}));
  CHECK(required_literals("autodiscover\\.json.*Powershell") == set({"autodiscover.json"}));
  CHECK(required_literals("(?:^|&)id=[^&]*(?:\\.\\./|%2e%2e)") == set({"id="}));
  CHECK(required_literals("^(?:GET|HEAD)$") == set({"get", "head"}));
  CHECK(required_literals("X-BEResource=(.+)/(.+)~(.+)") == set({"x-beresource="}));
  CHECK(required_literals("[Pp]ower[Ss]hell") == set({"powershell"}));
  CHECK(required_literals("a(?:b|c)d") == set({"abd", "acd"}));
  CHECK(required_literals("\\x41\\x2fb") == set({"a/b"}));
  CHECK(required_literals("\\Qa.b*c\\E") == set({"a.b*c"}));
  CHECK(required_literals("(?<name>ecp)/(?i:DDI)") == set({"ecp/ddi"}));
  CHECK(required_literals("(?<=/owa/)auth") == set({"/owa/"}));  // the longer one
  CHECK(required_literals("[^a]bc") == set({"bc"}));
  CHECK(required_literals("(?:abc)+x") == set({"abc"}));
}

TEST_CASE("no literal set where nothing is required or the syntax is not understood", "[policies][prefilter]") {
  for (const char* source : {".*", "(?:abc)?", "a|.*", "[a-z]+", "\\d{3}", "x?y?", "(?!abc)", "(?x) a b c",
                             "(a)\\1", "(?(1)ab|cd)", "(?R)", "(a|b(?R)c)", "\\p{L}", "\\N{U+41}", "a{,3}",
                             "(?=abc)+x", "\\0", "\\cA", "(?C1)abc", "(?P=n)", "\\g1"}) {
    INFO(source);
    auto l = required_literals(source);
    // Single characters may come out of some of these; what must never come out is a set that a
    // match can avoid, which the property test below checks. Here: no set of 2+ characters.
    CHECK((!l || shortest_length(*l) < 2));
  }
}

TEST_CASE("required literals are sound: every match contains one (property, PCRE2 as oracle)", "[policies][prefilter]") {
  const char* seed_env = std::getenv("MITIGD_PREFILTER_SEED");  // other seeds: a longer local search
  std::mt19937 rng(seed_env ? std::stoul(seed_env) : 20261124);
  const std::vector<std::string> pieces = {
      "abc", "xy", "Power", "shell", "%2e", "\\.", "\\x41", "[Bb]", "[a-c]", ".", ".*", "\\d", "(?:ab|cd)",
      "(?=.*ab)", "(?!xy)", "(?<=a)", "^", "$", "\\b", "(x)", "(?:)", "\\Qq.r\\E", "[^a]", "(?i)", "(?:a|)"};
  const std::vector<std::string> quantifiers = {"", "", "", "?", "*", "+", "{2}", "{1,3}", "{0,2}", "+?"};
  const std::vector<std::string> words = {"abc", "ab", "cd", "xy", "POWER", "shell", "A", "b", ".", "%2e",
                                          "1", "q.r", "x", "Q", "aB", "/", "\n"};
  auto pick = [&](const auto& v) { return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)]; };
  auto make_pattern = [&](auto& self, int depth) -> std::string {
    std::string out;
    int n = std::uniform_int_distribution<int>(1, 4)(rng);
    for (int i = 0; i < n; ++i) {
      std::string piece = pick(pieces);
      if (depth < 2 && rng() % 5 == 0) piece = "(?:" + self(self, depth + 1) + "|" + self(self, depth + 1) + ")";
      if (depth < 2 && rng() % 9 == 0) piece = "(?=" + self(self, depth + 1) + ")";
      out += piece + pick(quantifiers);
    }
    return out;
  };
  int checked_with_set = 0, matches_with_set = 0;
  for (int p = 0; p < 3000; ++p) {
    std::string source = make_pattern(make_pattern, 0);
    if (required_literals(source)) ++checked_with_set;
    for (int s = 0; s < 40; ++s) {
      std::string subject;
      int n = std::uniform_int_distribution<int>(0, 6)(rng);
      for (int i = 0; i < n; ++i) subject += pick(words);
      if (require_sound(source, subject)) ++matches_with_set;
    }
  }
  // The generator does exercise the analyser: many patterns get a set, and many of those match.
  CHECK(checked_with_set > 500);
  CHECK(matches_with_set > 1000);
}
