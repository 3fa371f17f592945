#include "policies/manifest.hpp"

#include <boost/json/parse.hpp>
#include <filesystem>

#include "policies/json_input.hpp"
#include "policies/limits.hpp"
#include "policies/manifest_parse.hpp"

#include <algorithm>
#include <map>
#include <cctype>

namespace mitigd {
namespace json = boost::json;
using json_input::ObjectReader;
using json_input::fail_at;
using json_input::index_path;
using manifest_parse::check;
using manifest_parse::compile_pattern;
using manifest_parse::lower;
using manifest_parse::parse_condition;

bool RewriteRule::reads_body() const {
  return std::any_of(when.begin(), when.end(), [](const Condition& c) { return input_reads_body(c.input.kind); });
}

void apply_rule_mode(Manifest& m, const std::string& mode) {
  if (mode != "detect" && mode != "enforce") return;
  m.mode = mode == "detect" ? RuleMode::detect : RuleMode::enforce;
  for (Action& a : m.actions) a.mode.reset();
}

const char* to_string(RuleMode mode) { return mode == RuleMode::detect ? "detect" : "enforce"; }

const char* to_string(ActionKind kind) {
  switch (kind) {
    case ActionKind::rewrite_rule: return "rewrite_rule";
    case ActionKind::response_header: return "response_header";
    case ActionKind::disable_service: return "disable_service";
    case ActionKind::disable_app_pool: return "disable_app_pool";
    case ActionKind::disable_vdir: return "disable_vdir";
  }
  return "?";
}

bool is_valid_mitigation_id(std::string_view id) {
  if (id.empty() || id.size() > 32 || !std::isalpha(static_cast<unsigned char>(id[0]))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string name_problem(std::string_view name, std::size_t max_bytes) {
  if (name.empty()) return "a non-empty name";
  if (name.size() > max_bytes) return "a name of at most " + std::to_string(max_bytes) + " bytes";
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || std::string_view("\"'`\\{};$#%").find(c) != std::string_view::npos) {
      return "a name of printable ASCII without any of \" ' ` \\ { } ; $ # % (found '" +
             std::string(1, c) + "')";
    }
  }
  return {};
}

std::string scope_problem(std::string_view scope) {
  if (scope.empty() || scope.front() != '/') return "a URL prefix starting with '/' such as \"/owa/\"";
  if (scope.size() > 256) return "a URL prefix of at most 256 bytes";
  for (char c : scope) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '_' ||
          c == '-' || c == '~')) {
      return "a URL prefix of letters, digits and / . _ - ~ (found '" + std::string(1, c) + "')";
    }
  }
  if (scope.find("//") != std::string_view::npos || scope.find("/./") != std::string_view::npos ||
      scope.find("/../") != std::string_view::npos || scope.ends_with("/..") ||
      scope.ends_with("/.")) {
    return "a normalised URL prefix (no empty, '.' or '..' segments)";
  }
  return {};
}

std::string header_name_problem(std::string_view name) {
  if (name.empty() || name.size() > 64) return "a header name of 1 to 64 characters";
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) {
      return "a header name of letters, digits and '-' (found '" + std::string(1, c) + "')";
    }
  }
  return {};
}

std::string header_value_problem(std::string_view value) {
  if (value.size() > limits::kHeaderValueBytes) {
    return "a header value of at most " + std::to_string(limits::kHeaderValueBytes) + " bytes";
  }
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    // `$` and `%` are variables in nginx and format specifiers in Apache; quotes and backslashes
    // would end or escape the quoted config string.
    if (u < 0x20 || u > 0x7e || std::string_view("\"`\\{}$%").find(c) != std::string_view::npos) {
      return "a header value of printable ASCII without \" ` \\ { } $ % (found '" +
             std::string(1, c) + "')";
    }
  }
  return {};
}

namespace {

RuleResponse parse_response(const json::value& v, const std::string& file, const std::string& path) {
  RuleResponse resp;
  if (const json::string* s = v.if_string()) {
    if (*s == "abort") return {RuleResponse::Kind::abort, 444};
    if (*s == "deny") return {RuleResponse::Kind::deny, 403};
  } else if (v.is_object()) {
    ObjectReader r(v, file, path);
    resp.kind = RuleResponse::Kind::status;
    resp.status = static_cast<int>(r.integer("status", 400, 599));
    r.finish();
    return resp;
  }
  fail_at(file, path, "\"abort\", \"deny\" or {\"status\": 400..599}");
}

RuleMode parse_rule_mode(ObjectReader& r, const char* key) {
  std::string mode = r.string(key, 16);
  if (mode != "enforce" && mode != "detect") r.fail(key, "\"enforce\" or \"detect\"");
  return mode == "detect" ? RuleMode::detect : RuleMode::enforce;
}

// "body_cap" (bytes inspected, 1 to 1 MiB, default 64 KiB) and "oversize" ("pass" | "block"): only
// on a rule that reads the body, where they mean something.
void parse_body_limits(ObjectReader& r, RewriteRule& rule) {
  bool given = r.optional("body_cap") || r.optional("oversize");
  if (given && !rule.reads_body()) {
    r.fail(r.optional("body_cap") ? "body_cap" : "oversize", "no field: no condition of this rule reads the body");
  }
  if (r.optional("body_cap")) rule.body_cap = static_cast<std::size_t>(r.integer("body_cap", 1, 1048576));
  if (auto o = r.optional_string("oversize", 16)) {
    if (*o != "pass" && *o != "block") r.fail("oversize", "\"pass\" (inspect the first body_cap bytes) or \"block\"");
    rule.oversize_block = *o == "block";
  }
}

// A rewrite_rule's own fields: its conditions, response, body limits and mode.
RewriteRule parse_rewrite_rule(ObjectReader& r, Action& a, const std::string& file, const std::string& context) {
  RewriteRule rule;
  const json::array& when = json_input::as_array(r.required("when"), file, r.child_path("when"), limits::kConditions);
  if (when.empty()) r.fail("when", "at least one condition");
  for (std::size_t i = 0; i < when.size(); ++i) {
    rule.when.push_back(parse_condition(when[i], file, index_path(r.child_path("when"), i), context));
  }
  rule.respond = parse_response(r.required("respond"), file, r.child_path("respond"));
  parse_body_limits(r, rule);
  if (r.optional("mode")) a.mode = parse_rule_mode(r, "mode");
  return rule;
}

Action parse_action(const json::value& v, const std::string& file, const std::string& path,
                    const std::string& id, std::size_t index) {
  ObjectReader r(v, file, path, {"kind", "name", "scope", "when", "respond", "content_type", "header", "append", "set",
                                 "service", "mask", "app_pool", "vdir", "status", "mode", "body_cap", "oversize"});
  Action a;
  std::string kind = r.string("kind", 32);
  if (kind == "rewrite_rule") {
    a.kind = ActionKind::rewrite_rule;
  } else if (kind == "response_header") {
    a.kind = ActionKind::response_header;
  } else if (kind == "disable_service") {
    a.kind = ActionKind::disable_service;
  } else if (kind == "disable_app_pool") {
    a.kind = ActionKind::disable_app_pool;
  } else if (kind == "disable_vdir") {
    a.kind = ActionKind::disable_vdir;
  } else {
    r.fail("kind",
           "one of rewrite_rule, response_header, disable_service, disable_app_pool, disable_vdir");
  }
  a.name = r.optional_string("name", limits::kNameBytes).value_or(kind + " " + std::to_string(index));
  check(name_problem(a.name, limits::kNameBytes), file, r.child_path("name"));
  std::string context = "mitigation " + id + ", action \"" + a.name + "\"";

  auto read_scope = [&] {
    if (auto scope = r.optional_string("scope", 256)) {
      check(scope_problem(*scope), file, r.child_path("scope"));
      a.scope = *scope;
    }
  };
  auto read_status = [&](int fallback) {
    if (r.optional("status")) return static_cast<int>(r.integer("status", 400, 599));
    return fallback;
  };

  switch (a.kind) {
    case ActionKind::rewrite_rule:
      read_scope();
      a.detail = parse_rewrite_rule(r, a, file, context);
      break;
    case ActionKind::response_header: {
      read_scope();
      ResponseHeaderEdit edit;
      edit.content_type = compile_pattern(r.optional_string("content_type", 256).value_or("."), false,
                                          file, r.child_path("content_type"), context);
      edit.header = r.string("header", 64);
      check(header_name_problem(edit.header), file, r.child_path("header"));
      auto append = r.optional_string("append", limits::kHeaderValueBytes);
      auto set = r.optional_string("set", limits::kHeaderValueBytes);
      if (append.has_value() == set.has_value()) r.fail("append", "exactly one of \"append\" or \"set\"");
      edit.mode = append ? ResponseHeaderEdit::Mode::append : ResponseHeaderEdit::Mode::set;
      edit.value = append ? *append : *set;
      check(header_value_problem(edit.value), file, r.child_path(append ? "append" : "set"));
      if (edit.value.empty()) r.fail(append ? "append" : "set", "a non-empty header value");
      a.detail = std::move(edit);
      break;
    }
    case ActionKind::disable_service: {
      DisableService d;
      d.service = r.string("service", 128);
      check(name_problem(d.service, 128), file, r.child_path("service"));
      if (auto mask = r.optional_string("mask", 16)) {
        if (*mask == "persistent") {
          d.persistent = true;
        } else if (*mask != "runtime") {
          r.fail("mask", "\"runtime\" or \"persistent\"");
        }
      }
      a.detail = std::move(d);
      break;
    }
    case ActionKind::disable_app_pool: {
      DisableAppPool d;
      d.app_pool = r.string("app_pool", 128);
      check(name_problem(d.app_pool, 128), file, r.child_path("app_pool"));
      d.status = read_status(503);
      a.detail = std::move(d);
      break;
    }
    case ActionKind::disable_vdir: {
      DisableVdir d;
      d.vdir = r.string("vdir", 128);
      check(name_problem(d.vdir, 128), file, r.child_path("vdir"));
      d.status = read_status(503);
      a.detail = std::move(d);
      break;
    }
  }
  r.finish();
  return a;
}

// Request headers: an object of name to value, or, to repeat a header, a list of [name, value].
void parse_probe_headers(const json::value& headers, const std::string& file, const std::string& path, HttpRequest& out) {
  auto add = [&](const std::string& name, const json::value& v, const std::string& hp) {
    check(header_name_problem(name), file, hp);
    std::string value = json_input::as_string(v, file, hp, limits::kHeaderValueBytes);
    if (!json_input::is_single_line(value)) fail_at(file, hp, "a header value on one line");
    out.headers.emplace_back(name, value);
  };
  if (const json::object* obj = headers.if_object()) {
    if (obj->size() > limits::kProbeHeaders) fail_at(file, path, "at most 32 headers");
    for (const auto& kv : *obj) add(std::string(kv.key()), kv.value(), json_input::key_path(path, kv.key()));
    return;
  }
  const json::array& list = json_input::as_array(headers, file, path, limits::kProbeHeaders);
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string hp = index_path(path, i);
    const json::array* pair = list[i].if_array();
    if (!pair || pair->size() != 2) fail_at(file, hp, "a [name, value] pair");
    add(json_input::as_string((*pair)[0], file, hp, 256), (*pair)[1], hp);
  }
}

Probe parse_probe(const json::value& v, const std::string& file, const std::string& path) {
  ObjectReader r(v, file, path, {"request", "expect"});
  Probe p;
  ObjectReader req(r.required("request"), file, r.child_path("request"), {"method", "target", "headers", "body"});
  p.request.method = req.optional_string("method", 16).value_or("GET");
  if (p.request.method.empty() ||
      !std::all_of(p.request.method.begin(), p.request.method.end(),
                   [](char c) { return c >= 'A' && c <= 'Z'; })) {
    req.fail("method", "an upper-case HTTP method such as GET or POST");
  }
  p.request.target = req.string("target", limits::kTargetBytes);
  if (p.request.target.empty() || p.request.target.front() != '/' ||
      !std::all_of(p.request.target.begin(), p.request.target.end(),
                   [](char c) { return c > 0x20 && c < 0x7f; })) {
    req.fail("target", "a request target starting with '/' without spaces or control characters");
  }
  if (const json::value* headers = req.optional("headers")) {
    parse_probe_headers(*headers, file, req.child_path("headers"), p.request);
  }
  // The body as text (JSON escapes give any byte below 0x80; "\r\n" for multipart), sent with a
  // Content-Length unless the headers frame it (Transfer-Encoding: chunked).
  if (req.optional("body")) p.request.body = req.string("body", limits::kProbeBodyBytes);
  req.finish();
  std::string expect = r.string("expect", 16);
  if (expect == "blocked") {
    p.expect = Probe::Expect::blocked;
  } else if (expect == "passed") {
    p.expect = Probe::Expect::passed;
  } else {
    r.fail("expect", "\"blocked\" or \"passed\"");
  }
  r.finish();
  return p;
}

std::string read_version(ObjectReader& r, std::string_view key, VersionScheme scheme);

// "fixed": [{"min", "fixed_in", "max"?}, ...]: sorted by min, each min < fixed_in (< max), branches
// not overlapping.
std::vector<AppliesTo::FixedBranch> parse_fixed_branches(const json::value& v, const std::string& file,
                                                         const std::string& path, VersionScheme scheme) {
  const auto& arr = json_input::as_array(v, file, path, 64);
  if (arr.empty()) json_input::fail_at(file, path, "at least one branch {\"min\", \"fixed_in\"}");
  std::vector<AppliesTo::FixedBranch> out;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string at = index_path(path, i);
    ObjectReader br(arr[i], file, at, {"min", "fixed_in", "max"});
    AppliesTo::FixedBranch b;
    b.min = read_version(br, "min", scheme);
    b.fixed_in = read_version(br, "fixed_in", scheme);
    if (br.optional("max")) b.max = read_version(br, "max", scheme);
    br.finish();
    if (compare_versions(scheme, b.min, b.fixed_in) >= 0) br.fail("fixed_in", "a version above this branch's min (" + b.min + ")");
    if (b.max && compare_versions(scheme, b.fixed_in, *b.max) >= 0) br.fail("max", "a version above this branch's fixed_in (" + b.fixed_in + ")");
    if (!out.empty()) {
      const auto& prev = out.back();
      if (compare_versions(scheme, prev.min, b.min) >= 0) br.fail("min", "branches sorted by min, each above the last (" + prev.min + ")");
      if (prev.max && compare_versions(scheme, *prev.max, b.min) > 0) br.fail("min", "a branch starting at or after the previous max (" + *prev.max + ")");
      if (!prev.max && compare_versions(scheme, prev.fixed_in, b.min) > 0) {
        br.fail("min", "a branch starting after the previous branch's fixed_in (" + prev.fixed_in + "), or give that branch a max");
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::string read_version(ObjectReader& r, std::string_view key, VersionScheme scheme) {
  std::string v = r.string(key, 256);
  std::string problem = version_syntax_problem(scheme, v);
  if (!problem.empty()) {
    r.fail(key, std::string("a ") + to_string(scheme) + " version, not " + problem);
  }
  return v;
}

Manifest parse_manifest_or_throw(const std::string& file, const json::value& doc) {
  ObjectReader r(doc, file, "", {"schema", "id", "revision", "title", "description", "cves", "severity", "applies_to",
                                 "expires", "actions", "probes", "mode"});
  Manifest m;
  m.source = file;
  r.integer("schema", 1, 1);
  m.id = r.string("id", 32);
  if (!is_valid_mitigation_id(m.id)) {
    r.fail("id", "an id of 1 to 32 letters, digits, '.', '_' or '-', starting with a letter");
  }
  m.revision = r.integer("revision", 1, 2147483647);
  m.title = r.string("title", limits::kTitleBytes);
  if (m.title.empty()) r.fail("title", "a non-empty title");
  m.description = r.optional_string("description", limits::kDescriptionBytes).value_or("");
  if (const json::value* cves = r.optional("cves")) {
    const json::array& arr = json_input::as_array(*cves, file, r.child_path("cves"), limits::kCves);
    for (std::size_t i = 0; i < arr.size(); ++i) {
      std::string cve = json_input::as_string(arr[i], file, index_path(r.child_path("cves"), i), 32);
      bool ok = cve.size() >= 13 && cve.starts_with("CVE-") && cve[8] == '-' &&
                std::all_of(cve.begin() + 4, cve.begin() + 8, ::isdigit) &&
                std::all_of(cve.begin() + 9, cve.end(), ::isdigit);
      if (!ok) json_input::fail_at(file, index_path(r.child_path("cves"), i), "a CVE id such as CVE-2022-41040");
      m.cves.push_back(cve);
    }
  }
  if (r.optional("mode")) m.mode = parse_rule_mode(r, "mode");
  m.severity = r.optional_string("severity", 16).value_or("unknown");
  if (m.severity != "low" && m.severity != "medium" && m.severity != "high" &&
      m.severity != "critical" && m.severity != "unknown") {
    r.fail("severity", "one of low, medium, high, critical");
  }
  {
    ObjectReader ar(r.required("applies_to"), file, r.child_path("applies_to"), {"product", "scheme", "min", "fixed_in", "fixed"});
    m.applies_to.product = ar.string("product", 64);
    check(name_problem(m.applies_to.product, 64), file, ar.child_path("product"));
    auto scheme = parse_version_scheme(ar.optional_string("scheme", 16).value_or("dotted"));
    if (!scheme) ar.fail("scheme", scheme.error().message);
    m.applies_to.scheme = *scheme;
    if (ar.optional("min")) m.applies_to.min = read_version(ar, "min", *scheme);
    if (ar.optional("fixed_in")) m.applies_to.fixed_in = read_version(ar, "fixed_in", *scheme);
    if (m.applies_to.min && m.applies_to.fixed_in &&
        compare_versions(*scheme, *m.applies_to.min, *m.applies_to.fixed_in) >= 0) {
      ar.fail("fixed_in", "a version above min (" + *m.applies_to.min + ")");
    }
    if (const auto* fixed = ar.optional("fixed")) {
      if (m.applies_to.fixed_in) ar.fail("fixed", "either fixed_in or fixed (fixed releases per branch), not both");
      m.applies_to.fixed = parse_fixed_branches(*fixed, file, ar.child_path("fixed"), *scheme);
    }
    ar.finish();
  }
  if (auto expires = r.optional_string("expires", 32)) {
    m.expires = parse_utc_timestamp(*expires);
    if (!m.expires) r.fail("expires", "a UTC time such as 2027-06-01T00:00:00Z");
  }
  const json::array& actions =
      json_input::as_array(r.required("actions"), file, r.child_path("actions"), limits::kActions);
  if (actions.empty()) r.fail("actions", "at least one action");
  for (std::size_t i = 0; i < actions.size(); ++i) {
    m.actions.push_back(parse_action(actions[i], file, index_path(r.child_path("actions"), i), m.id, i));
  }
  if (const json::value* probes = r.optional("probes")) {
    const json::array& arr = json_input::as_array(*probes, file, r.child_path("probes"), limits::kProbes);
    for (std::size_t i = 0; i < arr.size(); ++i) {
      m.probes.push_back(parse_probe(arr[i], file, index_path(r.child_path("probes"), i)));
    }
  }
  r.finish();
  return m;
}

}  // namespace

Result<std::vector<Probe>> parse_request_list(const std::string& file, std::string_view text) {
  auto doc = json_input::parse(file, text);
  if (!doc) return doc.error();
  try {
    ObjectReader r(*doc, file, "");
    const json::array& arr = json_input::as_array(r.required("requests"), file, "requests", 100000);
    std::vector<Probe> out;
    for (std::size_t i = 0; i < arr.size(); ++i) out.push_back(parse_probe(arr[i], file, index_path("requests", i)));
    r.finish();
    return out;
  } catch (const json_input::SchemaError& e) {
    return make_error(Errc::invalid_input, e.message());
  }
}

Result<Manifest> parse_manifest(const std::string& file, std::string_view text) {
  if (text.size() > limits::kManifestBytes) {
    return make_error(Errc::invalid_input,
                      file + ": manifest larger than " + std::to_string(limits::kManifestBytes) + " bytes");
  }
  auto doc = json_input::parse(file, text);
  if (!doc) return doc.error();
  try {
    return parse_manifest_or_throw(file, *doc);
  } catch (const json_input::SchemaError& e) {
    return make_error(Errc::invalid_input, e.message());
  }
}

std::string guess_manifest_id(std::string_view text, const std::string& name) {
  if (text.size() <= limits::kManifestBytes) {
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    if (!ec && doc.is_object()) {
      if (const auto* id = doc.as_object().if_contains("id"); id && id->is_string() && is_valid_mitigation_id(id->as_string())) {
        return std::string(id->as_string());
      }
    }
  }
  std::string stem = std::filesystem::path(name).stem().string();
  return is_valid_mitigation_id(stem) ? stem : "?" + stem.substr(0, 64);
}

}  // namespace mitigd
