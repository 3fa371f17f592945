#include "policies/rule_eval.hpp"

#include <cctype>

namespace mitigd {

bool scope_matches(const std::string& scope, const std::string& path) {
  std::string s = scope;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (s == "/") return true;
  if (path.size() < s.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(path[i])) != std::tolower(static_cast<unsigned char>(s[i]))) return false;
  }
  return path.size() == s.size() || path[s.size()] == '/';
}

namespace {

// A virtual-directory action (disable_vdir, disable_app_pool) answering for this path, if any.
bool vdir_answers(const Action& a, std::size_t i, const std::string& path,
                  const std::map<std::size_t, std::vector<std::string>>& vdir_prefixes, RuleVerdict& v) {
  if (a.kind != ActionKind::disable_vdir && a.kind != ActionKind::disable_app_pool) return false;
  auto it = vdir_prefixes.find(i);
  if (it == vdir_prefixes.end()) return false;
  for (const auto& prefix : it->second) {
    if (scope_matches(prefix, path)) {
      v.blocked = true;
      v.status = a.kind == ActionKind::disable_vdir ? std::get<DisableVdir>(a.detail).status
                                                     : std::get<DisableAppPool>(a.detail).status;
      v.action = a.name;
      return true;
    }
  }
  return false;
}

// Apache: mitigd's generated mod_rewrite conditions, modelled on Apache's inputs.
bool apache_rule_holds(const Action& a, const RewriteRule& rule, const HttpRequest& request, const std::string& path,
                       RuleVerdict& v) {
  if (a.scope && !scope_matches(*a.scope, path)) return false;
  for (const Condition& c : rule.when) {
    std::string input = input_value(request, c.input, ServerSemantics::apache);
    if (c.decode && input.find("%00") != std::string::npos) continue;  // the generated config fails closed there
    if (c.decode) input = unescape_once(input);
    auto outcome = c.pattern.match(input);
    if (outcome == Pattern::Outcome::error) outcome = Pattern::Outcome::no_match;  // mod_rewrite
    bool hit = outcome != Pattern::Outcome::no_match;
    if (hit == c.negate) return false;
  }
  v.blocked = true;
  v.status = rule.respond.status;
  v.action = a.name;
  return true;
}

}  // namespace

RuleVerdict evaluate_request(const Manifest& m, const HttpRequest& request,
                             const std::map<std::size_t, std::vector<std::string>>& vdir_prefixes, ServerSemantics server) {
  if (server == ServerSemantics::nginx) {
    CoreRules core(m);
    return evaluate_request(m, core, request, vdir_prefixes);
  }
  RuleVerdict v;
  std::string path = normalized_path(raw_path(request.target));
  for (const Action& a : m.actions) {
    const auto* rule = std::get_if<RewriteRule>(&a.detail);
    if (auto why = rule ? rule_module_only_reason(m, a, *rule) : std::string(); !why.empty()) {
      v.cannot_enforce = "action \"" + a.name + "\": " + why;
      return v;
    }
  }
  for (std::size_t i = 0; i < m.actions.size(); ++i) {
    const Action& a = m.actions[i];
    if (const auto* rule = std::get_if<RewriteRule>(&a.detail)) {
      if (apache_rule_holds(a, *rule, request, path, v)) return v;
    } else if (vdir_answers(a, i, path, vdir_prefixes, v)) {
      return v;
    }
  }
  return v;
}

RuleVerdict evaluate_request(const Manifest& m, const CoreRules& core, const HttpRequest& request,
                             const std::map<std::size_t, std::vector<std::string>>& vdir_prefixes) {
  RuleVerdict v;
  const CoreRequest seen(request);  // built once for every rule
  const std::string path(reinterpret_cast<const char*>(seen.view().path.data), seen.view().path.len);
  for (std::size_t i = 0; i < m.actions.size(); ++i) {
    const Action& a = m.actions[i];
    if (const auto* rule = std::get_if<RewriteRule>(&a.detail)) {
      // The rule core: an engine error (match or depth limit) makes the rule match, negated or
      // not, and ends its evaluation (fail closed), as the nginx module and nginx's `if` (500) do.
      auto verdict = core.evaluate(i, seen);
      if (verdict.detected) v.detected.push_back(a.name);
      if (!verdict.matched) continue;
      v.blocked = true;
      v.engine_error = verdict.engine_error;
      v.status = rule->respond.status;
      v.action = a.name;
      return v;
    }
    if (vdir_answers(a, i, path, vdir_prefixes, v)) return v;
  }
  return v;
}

}  // namespace mitigd
