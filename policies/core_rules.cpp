#include "policies/core_rules.hpp"

#include "policies/pattern_literals.hpp"

#include "mitigd_core.h"

#include <cctype>
#include <deque>
#include <stdexcept>

namespace mitigd {

namespace {

std::string hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string codec(const Condition& c) {
  if (c.transforms.empty()) return "raw";
  std::string out;
  for (Transform t : c.transforms) out += std::string(out.empty() ? "" : ",") + (t == Transform::decode ? "decoded" : to_string(t));
  return out;
}

std::string op_word(const Condition& c) {
  std::string w = c.negate ? "!" : "";
  switch (c.op) {
    case MatchOp::pattern: w += "~"; break;
    case MatchOp::equals: w += "eq"; break;
    case MatchOp::contains: w += "contains"; break;
    case MatchOp::starts_with: w += "prefix"; break;
    case MatchOp::ends_with: w += "suffix"; break;
    case MatchOp::length: return w + "len";
  }
  return w + (c.pattern.case_sensitive() ? "" : "*");
}

std::string op_argument(const Condition& c) {
  if (c.op == MatchOp::pattern) return c.pattern.effective();
  if (c.op == MatchOp::length) return std::to_string(c.min_length) + "-" + std::to_string(c.max_length);
  return hex(c.literal);
}

void* arena_alloc(void* ctx, size_t n) {
  auto* blocks = static_cast<std::deque<std::string>*>(ctx);
  blocks->emplace_back(n + 1, '\0');
  return blocks->back().data();
}

mc_str as_mc(const std::string& s) { return {reinterpret_cast<const unsigned char*>(s.data()), s.size()}; }

std::string lower_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string scope_regex(const std::string& scope) {
  std::string s = scope;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (s == "/") return "^/";
  std::string out = "^";
  for (char c : s) {
    if (c == '.') out += "\\.";
    else out += c;
  }
  return out + "(?:/|$)";
}

std::optional<std::pair<std::size_t, std::vector<std::string>>> rule_gate(const RewriteRule& rule) {
  std::optional<std::pair<std::size_t, std::vector<std::string>>> best;
  for (std::size_t c = 0; c < rule.when.size(); ++c) {
    const Condition& cond = rule.when[c];
    if (cond.negate || cond.op == MatchOp::length) continue;
    auto literals = cond.op == MatchOp::pattern ? required_literals(cond.pattern.source())
                                                : std::optional<std::vector<std::string>>({cond.literal});
    if (!literals || shortest_length(*literals) < 3) continue;
    if (!best || shortest_length(*literals) > shortest_length(best->second)) best.emplace(c, std::move(*literals));
  }
  return best;
}

std::vector<std::string> core_rule_words(const Manifest& m, std::size_t index, const Action& a, const RewriteRule& rule) {
  std::vector<std::string> w = {m.id + "#" + std::to_string(index), std::to_string(rule.respond.status)};
  auto gate = rule_gate(rule);
  if (a.scope) {
    w.push_back("scope");
    w.push_back(scope_regex(*a.scope));
    // A rule with no literal of its own is gated by its scope's prefix (the path must contain it).
    std::string prefix = *a.scope;
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    if (!gate && prefix.size() >= 3) {
      for (char& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      w.push_back("literals");
      w.push_back(hex(prefix));
    }
  }
  if (m.mode_of(a) == RuleMode::detect) {
    w.push_back("mode");
    w.push_back("detect");
  }
  if (rule.reads_body()) {
    w.push_back("body");
    w.push_back(std::to_string(rule.body_cap));
    w.push_back(rule.oversize_block ? "block" : "pass");
  }
  for (std::size_t c = 0; c < rule.when.size(); ++c) {
    const Condition& cond = rule.when[c];
    for (const std::string& word : {std::string("when"), to_string(cond.input), codec(cond), op_word(cond), op_argument(cond)}) {
      w.push_back(word);
    }
    if (gate && gate->first == c) {
      std::string list;
      for (const auto& text : gate->second) list += (list.empty() ? "" : ",") + hex(text);
      w.push_back("literals");
      w.push_back(list);
    }
  }
  return w;
}

CoreRules::CoreRules(const Manifest& m) : sets_(m.actions.size(), nullptr) {
  for (std::size_t i = 0; i < m.actions.size(); ++i) {
    const auto* rule = std::get_if<RewriteRule>(&m.actions[i].detail);
    if (!rule) continue;
    sets_[i] = mc_ruleset_new();
    if (!sets_[i]) throw std::bad_alloc();
    auto words = core_rule_words(m, i, m.actions[i], *rule);
    std::vector<mc_str> w;
    for (const auto& s : words) w.push_back(as_mc(s));
    char err[512];
    if (mc_rule_add(sets_[i], w.data(), w.size(), err, sizeof err) != 0 || mc_ruleset_finish(sets_[i], err, sizeof err) != 0) {
      throw std::runtime_error("mitigation " + m.id + ", action " + std::to_string(i) + ": the rule core refuses it: " + err);
    }
  }
}

CoreRules::~CoreRules() {
  for (auto* s : sets_) mc_ruleset_free(s);
}

bool CoreRules::gated(std::size_t index) const {
  return index < sets_.size() && sets_[index] && mc_rule_gated(sets_[index], 0);
}

CoreRequest::CoreRequest(const HttpRequest& request)
    : path_(normalized_path(raw_path(request.target))), query_(raw_query(request.target)), body_(request_body(request)) {
  values_.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) values_.push_back(trim_ows(value));
  for (std::size_t i = 0; i < request.headers.size(); ++i) headers_.push_back({as_mc(request.headers[i].first), as_mc(values_[i])});
  view_ = {};
  view_.method = as_mc(request.method);
  view_.request_uri = as_mc(request.target);
  view_.path = as_mc(path_);
  view_.query = as_mc(query_);
  view_.headers = headers_.data();
  view_.nheaders = headers_.size();
  // The whole body is at hand: as the module does once it has read it. Content-Type is the first
  // one, as nginx 1.22 hands it on.
  view_.body_read = 1;
  view_.body = as_mc(body_);
  view_.body_length = body_.size();
  for (std::size_t i = 0; i < request.headers.size(); ++i) {
    if (lower_ascii(request.headers[i].first) == "content-type") {
      view_.content_type = as_mc(values_[i]);
      break;
    }
  }
}

CoreRules::Verdict CoreRules::evaluate(std::size_t index, const CoreRequest& request) const {
  Verdict v;
  if (index >= sets_.size() || !sets_[index]) return v;
  std::deque<std::string> arena;
  mc_alloc a{arena_alloc, &arena};
  mc_verdict out;
  if (mc_evaluate(sets_[index], &request.view(), &a, &out) != 0) throw std::bad_alloc();
  if (out.need_body) throw std::logic_error("the rule core asked for a body it was given");
  v.matched = out.rule >= 0;
  v.detected = out.ndetected > 0;
  v.engine_error = out.engine_error != 0;
  v.regexes = out.regexes;
  return v;
}

}  // namespace mitigd
