#pragma once
// Offline verdicts: what the generated rules do with one request, computed in-process with the
// same inputs (request_semantics) and the same PCRE2 patterns as the server. Rules run in the
// order the server runs them (action order); the first that matches answers.
#include "policies/core_rules.hpp"
#include "policies/manifest.hpp"

#include <map>
#include <string>
#include <vector>

namespace mitigd {

struct RuleVerdict {
  bool blocked = false;
  int status = 0;            // 444 for abort, 403 for deny, or the status given
  std::string action;        // the action that answered
  bool engine_error = false; // PCRE2 gave up; the server fails closed too
  std::string cannot_enforce; // Apache: why a rule of this manifest cannot run there (then nothing is predicted)
  std::vector<std::string> detected;  // actions in detect mode that matched (and let the request through)
};

// vdir_prefixes: for disable_vdir / disable_app_pool actions, the prefixes the inventory gives
// (empty: those actions are ignored).
// server: whose semantics to predict. nginx: the rule core, the code the nginx module runs. Apache
// differs beyond the inputs: a decoded condition whose raw input carries %00 matches (mitigd's
// generated config fails closed there), and a regex error counts as no match (mod_rewrite), so the
// tester never predicts a block Apache does not do; a rule that needs the nginx module cannot run.
RuleVerdict evaluate_request(const Manifest& m, const HttpRequest& request,
                             const std::map<std::size_t, std::vector<std::string>>& vdir_prefixes = {},
                             ServerSemantics server = ServerSemantics::nginx);
// nginx semantics with the rules compiled once (many requests against one manifest).
RuleVerdict evaluate_request(const Manifest& m, const CoreRules& core, const HttpRequest& request,
                             const std::map<std::size_t, std::vector<std::string>>& vdir_prefixes = {});

bool scope_matches(const std::string& scope, const std::string& normalized_path);

}  // namespace mitigd
