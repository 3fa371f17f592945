// Rule conditions of a manifest: inputs, matchers (pattern, literal operators, length) with their
// exact regex twins for the engines that only run regexes, and transforms.
#include "policies/limits.hpp"
#include "policies/manifest_parse.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace mitigd {
namespace json = boost::json;
using json_input::ObjectReader;
using json_input::fail_at;

const char* to_string(Transform t) {
  switch (t) {
    case Transform::decode: return "decode";
    case Transform::lowercase: return "lowercase";
    case Transform::base64: return "base64";
  }
  return "?";
}

const char* to_string(MatchOp op) {
  switch (op) {
    case MatchOp::pattern: return "pattern";
    case MatchOp::equals: return "equals";
    case MatchOp::contains: return "contains";
    case MatchOp::starts_with: return "starts_with";
    case MatchOp::ends_with: return "ends_with";
    case MatchOp::length: return "length";
  }
  return "?";
}

std::string module_only_reason(const Condition& c) {
  if (input_reads_body(c.input.kind)) return "the input " + to_string(c.input) + " reads the request body, which only the nginx module engine inspects";
  if (!input_on_every_engine(c.input.kind)) return "the input " + to_string(c.input) + " needs the nginx module engine";
  for (Transform t : c.transforms) {
    if (t != Transform::decode) return std::string("the transform \"") + to_string(t) + "\" needs the nginx module engine";
  }
  if (c.transforms.size() > 1) return "decoding twice needs the nginx module engine";
  return {};
}

std::string rule_module_only_reason(const Manifest& m, const Action& a, const RewriteRule& rule) {
  for (const Condition& c : rule.when) {
    if (auto why = module_only_reason(c); !why.empty()) return why;
  }
  if (m.mode_of(a) == RuleMode::detect) return "detect mode needs the nginx module engine (it counts matches)";
  return {};
}

namespace manifest_parse {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void check(const std::string& problem, const std::string& file, const std::string& path) {
  if (!problem.empty()) fail_at(file, path, problem);
}

Pattern compile_pattern(const std::string& source, bool case_sensitive, const std::string& file,
                        const std::string& path, const std::string& context) {
  auto compiled = Pattern::compile(source, case_sensitive);
  if (!compiled) fail_at(file, path, compiled.error().message + " (" + context + ")");
  return std::move(*compiled);
}

namespace {

RuleInput parse_input(const std::string& text, const std::string& file, const std::string& path) {
  static const std::map<std::string, InputKind> plain = {
      {"request_uri", InputKind::request_uri}, {"path", InputKind::path}, {"query", InputKind::query},
      {"method", InputKind::method}, {"cookie", InputKind::cookie}, {"args", InputKind::args},
      {"arg_names", InputKind::arg_names}, {"headers", InputKind::headers}, {"header_names", InputKind::header_names},
      {"path_raw_decoded", InputKind::path_raw_decoded}, {"body", InputKind::body}, {"body_args", InputKind::body_args},
      {"body_arg_names", InputKind::body_arg_names}, {"files", InputKind::files}};
  if (auto it = plain.find(text); it != plain.end()) return {it->second, {}};
  for (const auto& [prefix, kind] : {std::pair<std::string, InputKind>{"header:", InputKind::header},
                                     {"cookie:", InputKind::cookie_named}, {"arg:", InputKind::arg},
                                     {"body_arg:", InputKind::body_arg}}) {
    if (!text.starts_with(prefix)) continue;
    std::string name = text.substr(prefix.size());
    check(header_name_problem(name), file, path);
    if (kind == InputKind::header && lower(name) == "cookie") return {InputKind::cookie, {}};
    return {kind, lower(name)};
  }
  fail_at(file, path,
          "one of request_uri, path, query, method, cookie, header:NAME, cookie:NAME, arg:NAME, args, arg_names, "
          "headers, header_names, path_raw_decoded, body, body_arg:NAME, body_args, body_arg_names, files (got \"" +
              text + "\")");
}


// Every byte that is not a letter or digit as \xHH: a literal as a regex, whatever it holds.
std::string escaped_literal(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c)) out += static_cast<char>(c);
    else out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
  }
  return out;
}

std::vector<Transform> parse_transforms(ObjectReader& r, const Condition& c) {
  std::vector<Transform> out;
  const json::value* value = r.optional("transforms");
  if (!value) return c.decode ? std::vector<Transform>{Transform::decode} : out;
  const json::array* list = value->if_array();
  if (!list) r.fail("transforms", "a list of \"decode\", \"lowercase\", \"base64\"");
  if (c.decode) r.fail("decode", "either \"decode\": true or \"transforms\", not both");
  if (list->empty() || list->size() > 4) r.fail("transforms", "1 to 4 of \"decode\", \"lowercase\", \"base64\"");
  for (const auto& t : *list) {
    const json::string* name = t.if_string();
    if (name && *name == "decode") out.push_back(Transform::decode);
    else if (name && *name == "lowercase") out.push_back(Transform::lowercase);
    else if (name && *name == "base64") out.push_back(Transform::base64);
    else r.fail("transforms", "each one of \"decode\", \"lowercase\", \"base64\"");
  }
  return out;
}

// The one matcher of a condition: pattern, a literal operator, or length; with its regex twin.
void parse_matcher(ObjectReader& r, Condition& c, bool case_sensitive, const std::string& file, const std::string& context) {
  static const std::vector<std::pair<std::string, MatchOp>> ops = {
      {"pattern", MatchOp::pattern}, {"equals", MatchOp::equals}, {"contains", MatchOp::contains},
      {"starts_with", MatchOp::starts_with}, {"ends_with", MatchOp::ends_with}, {"length", MatchOp::length}};
  std::vector<std::string> given;
  for (const auto& [key, op] : ops) {
    if (r.object().contains(key)) {
      given.push_back(key);
      c.op = op;
    }
  }
  if (given.size() != 1) {
    r.fail(given.empty() ? "pattern" : given[1],
           "exactly one of pattern, equals, contains, starts_with, ends_with, length");
  }
  const std::string key = given[0];
  std::string regex;
  if (c.op == MatchOp::pattern) {
    regex = r.string("pattern", limits::kPatternBytes);
  } else if (c.op == MatchOp::length) {
    ObjectReader len(r.required("length"), file, r.child_path("length"), {"min", "max"});
    c.min_length = len.optional("min") ? static_cast<std::size_t>(len.integer("min", 0, 65535)) : 0;
    c.max_length = len.optional("max") ? static_cast<std::size_t>(len.integer("max", 0, 65535)) : 65535;
    if (c.min_length > c.max_length) len.fail("max", "at least min");
    len.finish();
    regex = "^.{" + std::to_string(c.min_length) + "," + std::to_string(c.max_length) + "}\\z";
  } else {
    c.literal = r.string(key, limits::kPatternBytes / 4);
    if (c.literal.empty()) r.fail(key, "a non-empty string");
    std::string body = escaped_literal(c.literal);
    regex = c.op == MatchOp::equals        ? "^" + body + "\\z"
            : c.op == MatchOp::starts_with ? "^" + body
            : c.op == MatchOp::ends_with   ? body + "\\z"
                                           : body;
  }
  c.pattern = compile_pattern(regex, case_sensitive, file, r.child_path(key), context);
}

}  // namespace

Condition parse_condition(const json::value& v, const std::string& file, const std::string& path,
                          const std::string& context) {
  ObjectReader r(v, file, path, {"input", "decode", "transforms", "negate", "case", "pattern", "equals", "contains",
                                 "starts_with", "ends_with", "length"});
  Condition c;
  c.input = parse_input(r.string("input", 80), file, r.child_path("input"));
  c.decode = r.boolean("decode", false);
  c.transforms = parse_transforms(r, c);
  bool decodes = std::find(c.transforms.begin(), c.transforms.end(), Transform::decode) != c.transforms.end();
  // path_raw_decoded with decode is decoded twice (double encoding), which only transforms say.
  if (decodes && (c.input.kind == InputKind::path || c.input.kind == InputKind::method ||
                  (c.input.kind == InputKind::path_raw_decoded && c.decode))) {
    r.fail(r.object().contains("transforms") ? "transforms" : "decode",
           "no decode for \"" + to_string(c.input) +
               "\" (path and path_raw_decoded are already decoded: \"transforms\": [\"decode\"] decodes path_raw_decoded "
               "a second time; method is never encoded)");
  }
  c.decode = c.transforms == std::vector<Transform>{Transform::decode};
  c.negate = r.boolean("negate", false);
  bool case_sensitive = false;
  if (auto cs = r.optional_string("case", 16)) {
    if (*cs == "sensitive") {
      case_sensitive = true;
    } else if (*cs != "insensitive") {
      r.fail("case", "\"sensitive\" or \"insensitive\"");
    }
  }
  parse_matcher(r, c, case_sensitive, file, context);
  r.finish();
  return c;
}

}  // namespace manifest_parse
}  // namespace mitigd
