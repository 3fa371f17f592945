#include "policies/pattern.hpp"

#include "policies/limits.hpp"

#include <algorithm>
#include <cctype>
#include <vector>
#include <mutex>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace mitigd {

struct Pattern::Compiled {
  pcre2_code* code = nullptr;
  // JIT on first use: loading validates 100k manifests without mapping executable pages for
  // patterns that are only ever matched by the web server.
  std::once_flag jit_once;
  ~Compiled() { pcre2_code_free(code); }
};

std::string pattern_text_problem(std::string_view source) {
  if (source.empty()) return "a non-empty pattern";
  if (source.size() > limits::kPatternBytes) {
    return "a pattern of at most " + std::to_string(limits::kPatternBytes) + " bytes";
  }
  std::size_t quoted = source.size() + static_cast<std::size_t>(std::count(source.begin(), source.end(), '\\'));
  if (quoted > limits::kPatternQuotedBytes) {
    return "a pattern of at most " + std::to_string(limits::kPatternQuotedBytes) +
           " bytes once quoted for the web server (each backslash counts twice; this one needs " + std::to_string(quoted) + ")";
  }
  for (std::size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) {
      return "printable ASCII only (byte " + std::to_string(i) +
             " is a control or non-ASCII byte; write it as \\xHH)";
    }
    if (c == '"') return "no double quote (write it as \\x22)";
    if (c == '(' && i + 1 < source.size() && source[i + 1] == '*') {
      return "no PCRE2 verbs or option settings such as (*LIMIT_MATCH=...)";
    }
    // Named groups become variables in nginx: one could overwrite the flags rules are built on.
    if (c == '(' && source.compare(i, 3, "(?<") == 0 && i + 3 < source.size() && source[i + 3] != '=' &&
        source[i + 3] != '!') {
      return "no named groups (?<name>...): use (?:...) or a numbered group";
    }
    if (c == '(' && (source.compare(i, 4, "(?P<") == 0 || source.compare(i, 3, "(?'") == 0)) {
      return "no named groups (?P<name>...): use (?:...) or a numbered group";
    }
    if (c == '$' && i + 1 < source.size() && source[i + 1] == '{') {
      return "no '${' (write '$\\{' or \\x24 for a literal)";
    }
  }
  return {};
}

namespace {

// True when the pattern has a '|' outside every group and character class.
bool has_top_level_alternative(std::string_view p) {
  int depth = 0;
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 < p.size() && p[i + 1] == 'Q') {
        std::size_t end = p.find("\\E", i + 2);
        if (end == std::string_view::npos) return true;  // unusual: do not optimise
        i = end + 1;
      } else {
        ++i;
      }
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '[') {
      in_class = true;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') ++i;
      if (i + 1 < p.size() && p[i + 1] == ']') ++i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (c == '|' && depth == 0) {
      return true;
    }
  }
  return false;
}

bool starts_with_greedy_any(std::string_view p) {
  return p.starts_with("(?=.*") || p.starts_with(".*");
}

}  // namespace

// The match and depth limits every engine uses for rule patterns (nginx's if, the module, Apache and
// the offline tester all see the same effective pattern). Far below PCRE2's defaults (10,000,000):
// a pattern that needs more is treated as matching (fail closed) after at most a few milliseconds.
constexpr const char* kLimits = "(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)";

namespace {

// One group of a pattern as the exponential check sees it.
struct GroupScan {
  bool atomic = false;
  bool inner_unbounded = false;    // contains an unbounded quantifier (*, +, {n,}, {n,m} with m >= 10)
  bool alternation = false;
  std::vector<int> first_chars;    // each branch's first literal (lower case), or -1 for anything else
  bool at_branch_start = true;
};

// After a quantifiable item ending at i-1: the length of the quantifier at i, and whether it repeats
// without a small bound and is not possessive.
std::size_t quantifier_at(std::string_view p, std::size_t i, bool& unbounded) {
  unbounded = false;
  if (i >= p.size()) return 0;
  std::size_t n = 0;
  if (p[i] == '*' || p[i] == '+') {
    unbounded = true;
    n = 1;
  } else if (p[i] == '?') {
    n = 1;
  } else if (p[i] == '{') {
    std::size_t close = p.find('}', i);
    if (close == std::string_view::npos) return 0;
    std::string_view body = p.substr(i + 1, close - i - 1);
    auto comma = body.find(',');
    if (body.empty() || body.find_first_not_of("0123456789,") != std::string_view::npos) return 0;
    std::string_view upper = comma == std::string_view::npos ? body : body.substr(comma + 1);
    // Digits only (checked above), but possibly more than any integer holds: never std::stol.
    std::string_view digits = upper;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    unbounded = upper.empty() || digits.size() > 1;  // >= 10
    n = close - i + 1;
  }
  if (n && i + n < p.size() && p[i + n] == '+') unbounded = false;  // possessive: no backtracking
  if (n && i + n < p.size() && (p[i + n] == '?' || p[i + n] == '+')) ++n;
  return n;
}

bool branches_overlap(const std::vector<int>& firsts) {
  for (std::size_t a = 0; a < firsts.size(); ++a) {
    for (std::size_t b = a + 1; b < firsts.size(); ++b) {
      if (firsts[a] < 0 || firsts[b] < 0 || firsts[a] == firsts[b]) return true;
    }
  }
  return false;
}

}  // namespace

std::string exponential_problem(std::string_view p) {
  std::vector<GroupScan> stack(1);
  auto note_item = [&](int first) {
    GroupScan& g = stack.back();
    if (g.at_branch_start) {
      g.first_chars.push_back(first);
      g.at_branch_start = false;
    }
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    bool unbounded = false;
    if (c == '\\') {
      bool literal = i + 1 < p.size() && std::ispunct(static_cast<unsigned char>(p[i + 1]));
      note_item(literal ? std::tolower(static_cast<unsigned char>(p[i + 1])) : -1);
      ++i;
    } else if (c == '[') {
      std::size_t j = i + 1;
      if (j < p.size() && p[j] == '^') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
      note_item(-1);
      i = j;
    } else if (c == '(') {
      GroupScan g;
      g.atomic = p.compare(i, 3, "(?>") == 0;
      bool lookaround = p.compare(i, 3, "(?=") == 0 || p.compare(i, 3, "(?!") == 0 || p.compare(i, 4, "(?<=") == 0 ||
                        p.compare(i, 4, "(?<!") == 0;
      note_item(lookaround ? -2 : -1);
      if (p.compare(i, 2, "(?") == 0) {
        std::size_t colon = p.find_first_of(":)", i);  // (?:  (?i:  (?=  ...
        if (colon != std::string_view::npos && p[colon] == ':') i = colon;
        else i += p.compare(i, 4, "(?<=") == 0 || p.compare(i, 4, "(?<!") == 0 ? 3 : 2;
      }
      stack.push_back(std::move(g));
      continue;
    } else if (c == ')' && stack.size() > 1) {
      GroupScan g = std::move(stack.back());
      stack.pop_back();
      std::size_t q = quantifier_at(p, i + 1, unbounded);
      bool ambiguous = g.inner_unbounded || (g.alternation && branches_overlap(g.first_chars));
      if (unbounded && ambiguous && !g.atomic) {
        return "a pattern without nested repetition: the group ending at offset " + std::to_string(i) +
               " is repeated and can match the same text in several ways (exponential backtracking); use a "
               "character class, an atomic group (?>...) or a possessive quantifier (*+, ++)";
      }
      if (g.inner_unbounded || unbounded) stack.back().inner_unbounded = true;
      i += q;
      continue;
    } else if (c == '|') {
      stack.back().alternation = true;
      stack.back().at_branch_start = true;
      continue;
    } else if (c == '.') {
      note_item(-1);
    } else if (c != '^' && c != '$') {
      note_item(std::tolower(static_cast<unsigned char>(c)));
    }
    std::size_t q = quantifier_at(p, i + 1, unbounded);
    if (unbounded) stack.back().inner_unbounded = true;
    i += q;
  }
  return {};
}

std::string effective_pattern(std::string_view source) {
  std::string out = std::string(kLimits) + "(?s)";
  if (starts_with_greedy_any(source) && !has_top_level_alternative(source)) out += '^';
  out += "(?:";
  out += source;
  out += ')';
  return out;
}

Result<Pattern> Pattern::compile(std::string_view source, bool case_sensitive) {
  if (std::string problem = pattern_text_problem(source); !problem.empty()) {
    return make_error(Errc::invalid_input, problem);
  }
  if (std::string problem = exponential_problem(source); !problem.empty()) {
    return make_error(Errc::invalid_input, problem);
  }
  Pattern p;
  p.source_ = std::string(source);
  p.effective_ = effective_pattern(source);
  p.case_sensitive_ = case_sensitive;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  uint32_t options = case_sensitive ? 0 : PCRE2_CASELESS;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.effective_.data()),
                                   p.effective_.size(), options, &error_code, &error_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error_code, buffer, sizeof buffer);
    // The offset is reported in the source the author wrote, not in our wrapper.
    std::size_t prefix = p.effective_.find("(?:") + 3;
    std::size_t at = error_offset > prefix ? error_offset - prefix : 0;
    if (at > source.size()) at = source.size();
    return make_error(Errc::invalid_input, std::string("a valid PCRE2 pattern: ") +
                                               reinterpret_cast<const char*>(buffer) +
                                               " at offset " + std::to_string(at));
  }
  auto compiled = std::make_shared<Compiled>();
  compiled->code = code;
  p.compiled_ = std::move(compiled);
  return p;
}

Pattern::Outcome Pattern::match(std::string_view subject) const {
  // Best effort: the interpreter gives the same verdicts when JIT is unavailable.
  std::call_once(compiled_->jit_once, [this] { pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE); });
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  int rc = pcre2_match(compiled_->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                       0, 0, data, nullptr);
  pcre2_match_data_free(data);
  if (rc >= 0) return Outcome::match;
  if (rc == PCRE2_ERROR_NOMATCH) return Outcome::no_match;
  return Outcome::error;
}

}  // namespace mitigd
