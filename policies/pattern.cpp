#include "policies/pattern.hpp"

#include "policies/limits.hpp"

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

std::string effective_pattern(std::string_view source) {
  std::string out = "(?s)";
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
