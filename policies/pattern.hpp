#pragma once
// Rule patterns: PCRE2, the engine nginx and Apache use, so a verdict computed here is the verdict
// the web server gives. A manifest's pattern text is turned into one *effective* pattern that both
// the generated server configs and in-process matching use:
//   (*LIMIT_MATCH=1000000)(*LIMIT_DEPTH=100000)  the same engine limits everywhere (a pattern that
//             needs more is an engine error, which every engine treats as a match: fail closed);
//   (?s)      `.` also matches a newline: a decoded %0A must not split a lookahead and bypass a rule;
//   ^         added when the pattern starts with a lookahead `(?=.*` (or `.*`) and has no top-level
//             alternative: with (?s) the verdicts are identical, and PCRE no longer retries the
//             lookahead at every position (27x cheaper on a 512-byte URI in nginx);
//   (?:...)   the source, grouped, so that nothing it ends with can touch what follows.
#include "policies/error.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace mitigd {

// Empty when the text may be used as a rule pattern; otherwise what is wrong with it. Checked before
// PCRE2 sees it: printable ASCII only (write other bytes as \xHH), no double quote (use \x22), no
// `(*` (PCRE2 verbs could lower limits or change the engine's options), no `${` (Apache expands it).
std::string pattern_text_problem(std::string_view source);

// Empty unless the pattern repeats, without a small bound, a group that can match the same text in
// several ways (nested unbounded quantifiers, or alternatives that may start alike): the shapes
// whose backtracking is exponential, such as (a|aa)+ or (\w+\s?)*. Atomic groups and possessive
// quantifiers are fine. Conservative: it may refuse a harmless pattern, with a message saying how
// to rewrite it, but never lets such a shape through.
std::string exponential_problem(std::string_view source);

std::string effective_pattern(std::string_view source);

class Pattern {
 public:
  // Compiles the effective pattern; the error message is PCRE2's, with the offset in the source.
  static Result<Pattern> compile(std::string_view source, bool case_sensitive);

  enum class Outcome { no_match, match, error };
  // error: PCRE2 gave up (match limit, depth limit). Callers treat it as a match: fail closed.
  Outcome match(std::string_view subject) const;
  bool matches(std::string_view subject) const { return match(subject) != Outcome::no_match; }

  const std::string& source() const { return source_; }
  const std::string& effective() const { return effective_; }
  bool case_sensitive() const { return case_sensitive_; }

 private:
  struct Compiled;
  std::shared_ptr<Compiled> compiled_;
  std::string source_;
  std::string effective_;
  bool case_sensitive_ = false;
};

}  // namespace mitigd
