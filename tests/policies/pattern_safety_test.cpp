// Security review, issue 14 findings 4 and 5: catastrophic patterns and fail-open negations.
#include "policies/manifest.hpp"
#include "policies/pattern.hpp"
#include "policies/rule_eval.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

TEST_CASE("Pattern: shapes with exponential backtracking are refused at load, with how to rewrite them", "[policies][security]") {
  for (const char* bad : {"^(a|aa)+$", "(a+)+", "(\\w+\\s?)*$", "(?:x|x)*y", "(.*a){20}", "((ab)*c)+", "(?i:(a|A)+)z"}) {
    INFO(bad);
    auto p = Pattern::compile(bad, false);
    REQUIRE_FALSE(p);
    CHECK(p.error().message.find("exponential backtracking") != std::string::npos);
  }
  for (const char* fine : {"(?:foo|bar)+", "(?>a|aa)+", "(a|aa)++", "(?=.*autodiscover)(?=.*powershell)", "(ab)+", "[a-z]+",
                           "(\\d{1,3}\\.){3}\\d{1,3}", "(?:^|&)x=\\.\\./", "(?:\\.\\./)+", "(?:%2e|\\.){2}", "^/(?:ecp|owa)/"}) {
    INFO(fine);
    CHECK(Pattern::compile(fine, false));
  }
}

TEST_CASE("Pattern: every effective pattern carries the same engine limits", "[policies][security]") {
  auto p = Pattern::compile("abc", false);
  REQUIRE(p);
  CHECK(p->effective().starts_with("(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)"));
  // Manifests still may not set their own.
  CHECK_FALSE(Pattern::compile("(*LIMIT_MATCH=99999999)abc", false));
}

TEST_CASE("RuleEval: an engine error makes the rule match, negated or not (fails closed)", "[policies][security]") {
  // A shape the static check cannot see through (a backreference), hitting the match limit.
  auto m = parse_manifest("N.json", R"({"schema":1,"id":"N","revision":1,"title":"t","applies_to":{"product":"p"},
    "actions":[{"kind":"rewrite_rule","name":"neg","when":[{"input":"path","pattern":"^/n/"},
      {"input":"request_uri","negate":true,"pattern":"^/n/(?:(a)\\1?)*(?:(a)\\2?)*(?:(a)\\3?)*(?:(a)\\4?)*$"}],"respond":"deny"}]})");
  REQUIRE(m);
  std::string slow = "/n/" + std::string(60, 'a') + "b";
  RuleVerdict v = evaluate_request(*m, HttpRequest{"GET", slow, {}});
  CHECK(v.engine_error);
  CHECK(v.blocked);
  CHECK(v.status == 403);
  CHECK_FALSE(evaluate_request(*m, HttpRequest{"GET", "/n/aaaa", {}}).blocked);
}

// Security review, issue 14 finding 11: the offline tester must model each server, so that it never
// predicts a block the server does not do (nor misses one it does).
TEST_CASE("RuleEval: Apache semantics: repeated headers joined, %00 fails closed, a regex error is no match", "[policies][security]") {
  auto m = parse_manifest("A.json", R"({"schema":1,"id":"A","revision":1,"title":"t","applies_to":{"product":"p"},
    "actions":[{"kind":"rewrite_rule","name":"ua","when":[{"input":"header:User-Agent","pattern":"jndi"}],"respond":"deny"},
               {"kind":"rewrite_rule","name":"q","when":[{"input":"query","decode":true,"pattern":"powershell"}],"respond":"deny"}]})");
  REQUIRE(m);
  HttpRequest two_agents{"GET", "/", {{"User-Agent", "x"}, {"User-Agent", "${jndi:ldap://e}"}}};
  CHECK(evaluate_request(*m, two_agents, {}, ServerSemantics::apache).blocked);   // Apache joins them
  CHECK(evaluate_request(*m, two_agents, {}, ServerSemantics::nginx).blocked);  // the module: every occurrence
  HttpRequest nul{"GET", "/?x=%00&y=nothing", {}};
  CHECK(evaluate_request(*m, nul, {}, ServerSemantics::apache).blocked);
  CHECK_FALSE(evaluate_request(*m, nul, {}, ServerSemantics::nginx).blocked);
  // A regex error: nginx (and the module) fail closed; mod_rewrite sees no match.
  auto slow = parse_manifest("S.json", R"({"schema":1,"id":"S","revision":1,"title":"t","applies_to":{"product":"p"},
    "actions":[{"kind":"rewrite_rule","name":"s","when":[{"input":"path","pattern":"^/n/(?:(a)\\1?)*(?:(a)\\2?)*(?:(a)\\3?)*(?:(a)\\4?)*$"}],"respond":"deny"}]})");
  REQUIRE(slow);
  HttpRequest r{"GET", "/n/" + std::string(60, 'a') + "b", {}};
  CHECK(evaluate_request(*slow, r, {}, ServerSemantics::nginx).blocked);
  CHECK_FALSE(evaluate_request(*slow, r, {}, ServerSemantics::apache).blocked);
}

// Found by the fuzzer: a repetition count larger than any integer threw out of the static check
// (std::stol) and aborted the process loading the manifest.
TEST_CASE("Pattern: a huge repetition count is an error message, not a crash", "[policies][security]") {
  auto p = Pattern::compile("(ab){81111111111111111111111111111111}", false);
  CHECK_FALSE(p);  // PCRE2 refuses the number (too large); nothing throws
  CHECK(exponential_problem("(a+){99999999999999999999999}").find("exponential") != std::string::npos);
  CHECK(exponential_problem("x{1,0000000000000000000000000009}").empty());
}
