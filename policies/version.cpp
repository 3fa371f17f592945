#include "policies/version.hpp"

#include <cctype>

namespace mitigd {

const char* to_string(VersionScheme scheme) {
  return scheme == VersionScheme::dotted ? "dotted" : "debian";
}

Result<VersionScheme> parse_version_scheme(std::string_view text) {
  if (text == "dotted") return VersionScheme::dotted;
  if (text == "debian") return VersionScheme::debian;
  return make_error(Errc::invalid_input, "\"dotted\" or \"debian\"");
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }

std::string dotted_problem(std::string_view text) {
  if (text.empty()) return "an empty version";
  if (text.size() > 128) return "a version longer than 128 characters";
  std::size_t components = 0;
  std::size_t run = 0;
  for (char c : text) {
    if (is_digit(c)) {
      ++run;
    } else if (c == '.') {
      if (run == 0) return "an empty component (two dots, or a dot at an end)";
      run = 0;
      ++components;
    } else {
      return std::string("a character '") + c + "' (dotted versions are digits and dots)";
    }
  }
  if (run == 0) return "an empty component (two dots, or a dot at an end)";
  if (components + 1 > 16) return "more than 16 components";
  return {};
}

// Components compare numerically without overflow: strip leading zeros, longer is bigger.
int compare_numeric(std::string_view a, std::string_view b) {
  while (a.size() > 1 && a.front() == '0') a.remove_prefix(1);
  while (b.size() > 1 && b.front() == '0') b.remove_prefix(1);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string_view next_component(std::string_view& rest) {
  std::size_t dot = rest.find('.');
  std::string_view head = rest.substr(0, dot);
  rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  return head;
}

struct DebianParts {
  std::string_view epoch, upstream, revision;
};

DebianParts split_debian(std::string_view v) {
  DebianParts p;
  std::size_t colon = v.find(':');
  if (colon != std::string_view::npos) {
    p.epoch = v.substr(0, colon);
    v.remove_prefix(colon + 1);
  }
  std::size_t dash = v.rfind('-');
  if (dash != std::string_view::npos) {
    p.revision = v.substr(dash + 1);
    v = v.substr(0, dash);
  }
  p.upstream = v;
  return p;
}

std::string debian_problem(std::string_view text) {
  if (text.empty()) return "an empty version";
  if (text.size() > 256) return "a version longer than 256 characters";
  DebianParts p = split_debian(text);
  if (text.find(':') != std::string_view::npos) {
    if (p.epoch.empty()) return "an empty epoch before ':'";
    for (char c : p.epoch) {
      if (!is_digit(c)) return "an epoch of digits only";
    }
    if (p.epoch.size() > 9) return "an epoch of at most 9 digits";
  }
  if (p.upstream.empty()) return "an empty upstream version";
  if (!is_digit(p.upstream.front())) return "an upstream version that starts with a digit";
  for (char c : p.upstream) {
    if (!(is_alnum(c) || c == '.' || c == '+' || c == '~' || c == '-' || c == ':')) {
      return std::string("a character '") + c + "' in the upstream version";
    }
    if (c == ':') return "at most one ':' (the epoch separator)";
  }
  if (text.find('-') != std::string_view::npos && p.revision.empty()) return "a non-empty revision after '-'";
  for (char c : p.revision) {
    if (!(is_alnum(c) || c == '.' || c == '+' || c == '~')) {
      return std::string("a character '") + c + "' in the Debian revision";
    }
  }
  return {};
}

// dpkg's character weight for the non-digit parts: '~' before the end, the end before letters,
// letters before everything else.
int order(char c) {
  if (is_digit(c)) return 0;
  if (is_alpha(c)) return c;
  if (c == '~') return -1;
  if (c) return c + 256;
  return 0;
}

int verrevcmp(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    int first_diff = 0;
    while ((i < a.size() && !is_digit(a[i])) || (j < b.size() && !is_digit(b[j]))) {
      int ac = i < a.size() ? order(a[i]) : 0;
      int bc = j < b.size() ? order(b[j]) : 0;
      if (ac != bc) return ac - bc;
      ++i;
      ++j;
    }
    while (i < a.size() && a[i] == '0') ++i;
    while (j < b.size() && b[j] == '0') ++j;
    while (i < a.size() && is_digit(a[i]) && j < b.size() && is_digit(b[j])) {
      if (!first_diff) first_diff = a[i] - b[j];
      ++i;
      ++j;
    }
    if (i < a.size() && is_digit(a[i])) return 1;
    if (j < b.size() && is_digit(b[j])) return -1;
    if (first_diff) return first_diff;
  }
  return 0;
}

int sign(int v) { return v < 0 ? -1 : (v > 0 ? 1 : 0); }

}  // namespace

std::string version_syntax_problem(VersionScheme scheme, std::string_view text) {
  return scheme == VersionScheme::dotted ? dotted_problem(text) : debian_problem(text);
}

int compare_dotted(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    std::string_view ca = a.empty() ? std::string_view("0") : next_component(a);
    std::string_view cb = b.empty() ? std::string_view("0") : next_component(b);
    if (int c = compare_numeric(ca, cb)) return c;
  }
  return 0;
}

int compare_debian(std::string_view a, std::string_view b) {
  DebianParts pa = split_debian(a), pb = split_debian(b);
  std::string_view ea = pa.epoch.empty() ? std::string_view("0") : pa.epoch;
  std::string_view eb = pb.epoch.empty() ? std::string_view("0") : pb.epoch;
  if (int c = compare_numeric(ea, eb)) return c;
  if (int c = verrevcmp(pa.upstream, pb.upstream)) return sign(c);
  return sign(verrevcmp(pa.revision, pb.revision));
}

int compare_versions(VersionScheme scheme, std::string_view a, std::string_view b) {
  return scheme == VersionScheme::dotted ? compare_dotted(a, b) : compare_debian(a, b);
}

}  // namespace mitigd
