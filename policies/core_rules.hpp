#pragma once
// A manifest's request rules for the rule core (rule_core/): the words of each rule's directive,
// which the nginx module is given (`mitigd_rule WORDS...;`) and which the offline tester compiles
// with the very same core, so that `mitigctl rules test` predicts what nginx does.
#include "policies/manifest.hpp"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mitigd_core.h"

namespace mitigd {

// The regex of a scope: the prefix and everything under it, case-insensitively.
std::string scope_regex(const std::string& scope);

// The condition whose literals gate the rule in the prefilter, and those literals: the most
// selective set among conditions that are not negated (literals shorter than 3 bytes occur by
// chance too often to be worth a gate). A literal operator is its own literal.
std::optional<std::pair<std::size_t, std::vector<std::string>>> rule_gate(const RewriteRule& rule);

// ID STATUS [scope REGEX] when INPUT CODEC OP ARG [literals HEX,...] ... (rule_core/mitigd_core.h).
std::vector<std::string> core_rule_words(const Manifest& m, std::size_t index, const Action& a, const RewriteRule& rule);

// A request as the rule core sees it, built once and shared by every rule evaluated on it: the
// path as nginx's $uri, the raw query, header values without the whitespace around them.
class CoreRequest {
 public:
  explicit CoreRequest(const HttpRequest& request);
  CoreRequest(const CoreRequest&) = delete;
  CoreRequest& operator=(const CoreRequest&) = delete;
  const mc_request& view() const { return view_; }

 private:
  std::string path_, query_, body_;
  std::vector<std::string> values_;
  std::vector<mc_header> headers_;
  mc_request view_;
};

// Every request rule of a manifest compiled by the core, one rule set per action (so that the
// offline tester can interleave them with the virtual-directory actions in action order).
class CoreRules {
 public:
  explicit CoreRules(const Manifest& m);
  ~CoreRules();
  CoreRules(const CoreRules&) = delete;
  CoreRules& operator=(const CoreRules&) = delete;

  struct Verdict {
    bool matched = false;
    bool engine_error = false;
    unsigned regexes = 0;  // regexes that ran
    bool detected = false;  // a rule in detect mode held (matched stays false)
  };
  // The verdict of action `index` on a request (false when the action has no request rule).
  Verdict evaluate(std::size_t index, const CoreRequest& request) const;
  // Whether the action's rule has a literal gate (else it runs on every request).
  bool gated(std::size_t index) const;

 private:
  std::vector<mc_ruleset*> sets_;  // by action index; null for other actions
};

}  // namespace mitigd
