#include "policies/pattern_literals.hpp"

#include <algorithm>
#include <set>

namespace mitigd {

namespace {

using Strings = std::set<std::string>;

// Bounds that keep the sets small; going over them loses precision, never soundness.
constexpr std::size_t kMaxSetSize = 16;
constexpr std::size_t kMaxLiteralLength = 32;

struct Unsupported {};  // syntax we do not analyse: no set for the whole pattern

// What one piece of a pattern tells about the subjects it matches.
struct Info {
  // Every string the piece can match (folded), when that is a small known set; "" for assertions.
  std::optional<Strings> exact;
  // One member occurs in every subject the piece matches in (nullopt: nothing known).
  std::optional<Strings> need;
  // A lookaround: PCRE2 gives quantified assertions special meanings, so a quantifier on one
  // drops what it tells.
  bool assertion = false;
};

char fold(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

std::size_t min_length(const Strings& s) {
  std::size_t m = SIZE_MAX;
  for (const auto& x : s) m = std::min(m, x.size());
  return s.empty() ? 0 : m;
}

bool useful(const std::optional<Strings>& s) { return s && !s->empty() && min_length(*s) > 0; }

// A member that contains another member adds nothing: where it occurs, the shorter one does too.
Strings reduced(const Strings& s) {
  Strings out;
  for (const auto& x : s) {
    bool redundant = false;
    for (const auto& y : s) redundant = redundant || (y != x && x.find(y) != std::string::npos);
    if (!redundant) out.insert(x);
  }
  return out;
}

// The more selective of two requirements: the longer shortest member, then the fewer members.
std::optional<Strings> better(std::optional<Strings> a, std::optional<Strings> b) {
  if (useful(a)) a = reduced(*a);
  if (useful(b)) b = reduced(*b);
  if (!useful(a)) return useful(b) ? b : std::nullopt;
  if (!useful(b)) return a;
  std::size_t ma = min_length(*a), mb = min_length(*b);
  if (ma != mb) return ma > mb ? a : b;
  return a->size() <= b->size() ? a : b;
}

Info literal(char c) {
  Strings s{std::string(1, fold(c))};
  return {s, s};
}
Info assertion() { return {Strings{""}, std::nullopt}; }
Info anything() { return {std::nullopt, std::nullopt}; }

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

class Analyzer {
 public:
  explicit Analyzer(std::string_view p) : p_(p) {}

  Info pattern() {
    Info info = alternation();
    if (i_ != p_.size()) throw Unsupported{};  // an unbalanced ')': not what PCRE2 accepted
    return info;
  }

 private:
  bool at_end() const { return i_ >= p_.size(); }
  char peek(std::size_t ahead = 0) const { return i_ + ahead < p_.size() ? p_[i_ + ahead] : '\0'; }
  char next() {
    if (at_end()) throw Unsupported{};
    return p_[i_++];
  }

  Info alternation() {
    std::vector<Info> branches{sequence()};
    while (!at_end() && peek() == '|') {
      ++i_;
      branches.push_back(sequence());
    }
    if (branches.size() == 1) return branches[0];
    Info out;
    Strings exact, need;
    bool all_exact = true, all_need = true;
    for (const Info& b : branches) {
      if (b.exact) exact.insert(b.exact->begin(), b.exact->end());
      else all_exact = false;
      auto n = useful(b.need) ? b.need : std::nullopt;
      if (n) need.insert(n->begin(), n->end());
      else all_need = false;
    }
    if (all_exact && exact.size() <= kMaxSetSize) out.exact = exact;
    if (all_need && need.size() <= kMaxSetSize) out.need = need;
    return out;
  }

  Info sequence() {
    Strings run{""};           // every string the current run of exact pieces can match
    bool run_exact = true;     // the whole sequence so far is exact (= run)
    std::optional<Strings> best;
    auto flush = [&] {
      best = better(best, run);
      run = Strings{""};
    };
    while (!at_end() && peek() != '|' && peek() != ')') {
      Info item = quantified(atom());
      best = better(best, item.need);
      if (!item.exact) {
        flush();
        run_exact = false;
        continue;
      }
      Strings product;
      bool fits = run.size() * item.exact->size() <= kMaxSetSize;
      for (const auto& a : run) {
        for (const auto& b : *item.exact) {
          if (a.size() + b.size() > kMaxLiteralLength) fits = false;
          if (fits) product.insert(a + b);
        }
      }
      if (fits) {
        run = std::move(product);
      } else {
        flush();
        run = *item.exact;
        run_exact = false;
      }
    }
    Info out;
    if (run_exact) out.exact = run;
    flush();
    out.need = best;
    return out;
  }

  // A quantifier following `item`, if any.
  Info quantified(Info item) {
    if (at_end()) return item;
    char c = peek();
    std::size_t min = 1, max = 1;
    if (c == '*' || c == '?') {
      min = 0;
      ++i_;
    } else if (c == '+') {
      max = 2;
      ++i_;
    } else if (c == '{') {
      std::size_t j = i_ + 1;
      std::string lo, hi;
      while (j < p_.size() && std::isdigit(static_cast<unsigned char>(p_[j]))) lo += p_[j++];
      bool comma = j < p_.size() && p_[j] == ',';
      if (comma) {
        ++j;
        while (j < p_.size() && std::isdigit(static_cast<unsigned char>(p_[j]))) hi += p_[j++];
      }
      if (j >= p_.size() || p_[j] != '}' || (lo.empty() && (hi.empty() || comma))) {
        // Not a quantifier, so a literal '{' in PCRE2 10.42; "{,n}" changed meaning in 10.43.
        if (lo.empty() && comma) throw Unsupported{};
        return item;
      }
      if (lo.size() > 6 || hi.size() > 6) throw Unsupported{};
      min = std::stoul(lo);
      max = comma ? (hi.empty() ? 2 : std::stoul(hi)) : min;
      i_ = j + 1;
    } else {
      return item;
    }
    if (!at_end() && (peek() == '?' || peek() == '+')) ++i_;  // lazy or possessive
    if (min == 0 || item.assertion) return anything();
    if (min == 1 && max == 1) return item;
    return {std::nullopt, item.need ? item.need : (useful(item.exact) ? item.exact : std::nullopt)};
  }

  Info atom() {
    char c = next();
    switch (c) {
      case '(': return group();
      case '[': return char_class();
      case '.': return anything();
      case '^':
      case '$': return assertion();
      case '\\': return escape();
      case '*':
      case '+':
      case '?':
      case '{': throw Unsupported{};
      default: return literal(c);
    }
  }

  Info group() {
    enum { plain, lookahead, lookbehind, negative } kind = plain;
    if (peek() == '*') throw Unsupported{};  // verbs are refused at load anyway
    if (peek() == '?') {
      ++i_;
      char c = next();
      if (c == ':' || c == '>' || c == '|') {
      } else if (c == '=') {
        kind = lookahead;
      } else if (c == '!') {
        kind = negative;
      } else if (c == '<' && (peek() == '=' || peek() == '!')) {
        kind = next() == '=' ? lookbehind : negative;
      } else if (c == '<' || c == '\'' || (c == 'P' && peek() == '<')) {
        if (c == 'P') ++i_;
        char close = c == '\'' ? '\'' : '>';
        while (next() != close) {
        }
      } else if (c == '#') {
        while (next() != ')') {
        }
        return assertion();
      } else {
        // Option letters: (?i) (?s-i) (?^) or (?i:...). Extended mode changes the syntax itself.
        --i_;
        // Only letters that set options; (?R), (?C) and the like are recursion and callouts.
        while (std::string_view("imnsJU-^").find(peek()) != std::string_view::npos && peek() != '\0') ++i_;
        char end = next();
        if (end == ')') return assertion();
        if (end != ':') throw Unsupported{};  // conditionals, recursion, callouts...
      }
    }
    Info inner = alternation();
    if (next() != ')') throw Unsupported{};
    switch (kind) {
      case plain: return inner;
      // The body of a positive assertion matches somewhere in the subject, so what it needs, the
      // subject has; it consumes nothing.
      case lookahead:
      case lookbehind: return {Strings{""}, better(inner.need, inner.exact), true};
      case negative: return {Strings{""}, std::nullopt, true};
    }
    return anything();
  }

  // \xHH or \x{HH}: one byte (values above 0xff are not single bytes: unsupported).
  char hex_escape() {
    std::string digits;
    if (peek() == '{') {
      ++i_;
      while (peek() != '}') digits += next();
      ++i_;
      if (digits.empty() || digits.size() > 2) throw Unsupported{};
    } else {
      while (digits.size() < 2 && is_hex(peek())) digits += next();
    }
    for (char d : digits) {
      if (!is_hex(d)) throw Unsupported{};
    }
    return static_cast<char>(digits.empty() ? 0 : std::stoi(digits, nullptr, 16));
  }

  // A single-byte escape's value, or nullopt for a class escape (\d \w \s ...).
  std::optional<char> simple_escape(char c, bool in_class) {
    if (!is_alnum(c)) return c;
    switch (c) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case 'f': return '\f';
      case 'e': return '\x1b';
      case 'a': return '\x07';
      case 'x': return hex_escape();
      case 'b':
        if (in_class) return '\b';
        throw Unsupported{};
      case 'd': case 'D': case 'w': case 'W': case 's': case 'S': case 'h': case 'H': case 'v': case 'V':
        return std::nullopt;
      default: throw Unsupported{};
    }
  }

  Info escape() {
    char c = next();
    switch (c) {
      case 'b': case 'B': case 'A': case 'z': case 'Z': case 'G': case 'K': return assertion();
      case 'R': case 'X': return anything();
      case 'Q': {
        Strings run{""};
        std::string text;
        while (!at_end() && !(peek() == '\\' && peek(1) == 'E')) text += fold(next());
        if (!at_end()) i_ += 2;
        if (text.empty()) return assertion();
        if (text.size() > kMaxLiteralLength) return {std::nullopt, Strings{text.substr(0, kMaxLiteralLength)}};
        return {Strings{text}, Strings{text}};
      }
      case 'E': return assertion();
      default: break;
    }
    auto value = simple_escape(c, false);
    return value ? literal(*value) : anything();
  }

  Info char_class() {
    bool negated = peek() == '^';
    if (negated) ++i_;
    bool complex = negated;
    Strings members;
    bool first = true;
    while (true) {
      char c = next();
      if (c == ']' && !first) break;
      first = false;
      if (c == '[' && peek() == ':') {
        complex = true;
        std::size_t end = p_.find(":]", i_);
        if (end == std::string_view::npos) throw Unsupported{};
        i_ = end + 2;
        continue;
      }
      if (c == '-' && peek() != ']' && !members.empty()) complex = true;  // a range
      if (c == '\\') {
        char e = next();
        if (e == 'Q' || e == 'E') throw Unsupported{};
        auto value = simple_escape(e, true);
        if (!value) complex = true;
        else members.insert(std::string(1, fold(*value)));
        continue;
      }
      members.insert(std::string(1, fold(c)));
    }
    if (complex || members.size() > 4) return anything();
    return {members, members};
  }

  std::string_view p_;
  std::size_t i_ = 0;
};

}  // namespace

std::optional<std::vector<std::string>> required_literals(std::string_view pattern_source) {
  std::optional<Strings> need;
  try {
    Info info = Analyzer(pattern_source).pattern();
    need = better(info.need, info.exact);
  } catch (const Unsupported&) {
    return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!useful(need)) return std::nullopt;
  return std::vector<std::string>(need->begin(), need->end());
}

std::size_t shortest_length(const std::vector<std::string>& literals) {
  std::size_t m = SIZE_MAX;
  for (const auto& s : literals) m = std::min(m, s.size());
  return literals.empty() ? 0 : m;
}

}  // namespace mitigd
