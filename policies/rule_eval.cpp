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

RuleVerdict evaluate_request(const Manifest& m, const HttpRequest& request,
                             const std::map<std::size_t, std::vector<std::string>>& vdir_prefixes, ServerSemantics server) {
  const bool apache = server == ServerSemantics::apache;
  RuleVerdict v;
  std::string path = normalized_path(raw_path(request.target));
  for (std::size_t i = 0; i < m.actions.size(); ++i) {
    const Action& a = m.actions[i];
    if (const auto* rule = std::get_if<RewriteRule>(&a.detail)) {
      if (a.scope && !scope_matches(*a.scope, path)) continue;
      bool all = true;
      for (const Condition& c : rule->when) {
        std::string input = input_value(request, c.input, server);
        if (c.decode && apache && input.find("%00") != std::string::npos) continue;  // fails closed there
        if (c.decode) input = unescape_once(input);
        auto outcome = c.pattern.match(input);
        if (apache && outcome == Pattern::Outcome::error) outcome = Pattern::Outcome::no_match;  // mod_rewrite
        // An engine error (match or depth limit) makes the rule match, negated or not, and ends
        // its evaluation: fail closed, as the nginx module and nginx's own `if` (500) do.
        if (outcome == Pattern::Outcome::error) {
          v.engine_error = true;
          break;
        }
        bool hit = outcome != Pattern::Outcome::no_match;
        if (hit == c.negate) {
          all = false;
          break;
        }
      }
      if (all) {
        v.blocked = true;
        v.status = rule->respond.status;
        v.action = a.name;
        return v;
      }
    } else if (a.kind == ActionKind::disable_vdir || a.kind == ActionKind::disable_app_pool) {
      auto it = vdir_prefixes.find(i);
      if (it == vdir_prefixes.end()) continue;
      for (const auto& prefix : it->second) {
        if (scope_matches(prefix, path)) {
          v.blocked = true;
          v.status = a.kind == ActionKind::disable_vdir ? std::get<DisableVdir>(a.detail).status
                                                         : std::get<DisableAppPool>(a.detail).status;
          v.action = a.name;
          return v;
        }
      }
    }
  }
  return v;
}

}  // namespace mitigd
