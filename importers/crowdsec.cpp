#include "importers/crowdsec.hpp"

#include "importers/yaml_json.hpp"
#include "policies/manifest.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>

namespace mitigd::importers {
namespace json = boost::json;

namespace {

std::string str(const json::value& v, const std::string& where) {
  if (const auto* s = v.if_string()) return std::string(*s);
  throw Refused(where, "expected a text value");
}

const json::array& list(const json::object& o, const char* key, const std::string& where) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_array() || v->as_array().empty()) throw Refused(where, std::string("expected a non-empty list \"") + key + "\"");
  return v->as_array();
}

// A zone: the mitigd input (NAME replaced by a variable), whether variables apply, and the decoding
// the AppSec engine does before any transform (it hands arguments on decoded).
struct Zone {
  std::string input, named;
  bool decoded;
};

const std::map<std::string, Zone>& zones() {
  static const std::map<std::string, Zone> z = {
      {"ARGS", {"args", "arg:", true}},          {"ARGS_NAMES", {"arg_names", "", true}},
      {"BODY_ARGS", {"body_args", "body_arg:", true}}, {"BODY_ARGS_NAMES", {"body_arg_names", "", true}},
      {"HEADERS", {"headers", "header:", false}}, {"HEADERS_NAMES", {"header_names", "", false}},
      {"METHOD", {"method", "", false}},         {"URI", {"path_raw_decoded", "", false}},
      {"URI_FULL", {"request_uri", "", false}},  {"RAW_BODY", {"body", "", false}},
      {"FILENAMES", {"files", "", false}},        {"COOKIES", {"", "cookie:", false}},
  };
  return z;
}

struct Matcher {
  std::vector<std::string> transforms;
  bool upper = false, length = false;
  Condition base;
};

Matcher matcher_of(const json::object& leaf, const std::string& where) {
  Matcher m;
  if (const json::value* t = leaf.if_contains("transform")) {
    if (!t->is_array()) throw Refused(where + ".transform", "expected a list");
    for (const auto& x : t->as_array()) {
      std::string name = str(x, where + ".transform");
      if (m.length) throw Refused(where + ".transform", "a transform after length");
      if (name == "lowercase") m.transforms.push_back("lowercase");
      else if (name == "urldecode") m.transforms.push_back("decode");
      else if (name == "b64decode") m.transforms.push_back("base64");
      else if (name == "uppercase") m.upper = true;
      else if (name == "length") m.length = true;
      else throw Refused(where + ".transform", "the transform \"" + name + "\" has no mitigd equivalent");
    }
  }
  const json::value* mv = leaf.if_contains("match");
  if (!mv || !mv->is_object()) throw Refused(where, "expected \"match\" with type and value");
  const json::object& match = mv->as_object();
  for (const auto& kv : match) {
    if (kv.key() != "type" && kv.key() != "value" && kv.key() != "not") {
      throw Refused(where + ".match." + std::string(kv.key()), "an unknown match field");
    }
  }
  std::string type = str(match.contains("type") ? match.at("type") : json::value(), where + ".match.type");
  std::string value = str(match.contains("value") ? match.at("value") : json::value(), where + ".match.value");
  if (const json::value* n = match.if_contains("not")) m.base.negate = str(*n, where + ".match.not") == "true";
  m.base.value = value;
  m.base.case_sensitive = !m.upper;
  if (m.length) {
    std::size_t n = 0;
    try {
      n = static_cast<std::size_t>(std::stoul(value));
    } catch (...) {
      throw Refused(where + ".match.value", "a byte count after the length transform");
    }
    m.base.op = "length";
    if (type == "equals") m.base.min = m.base.max = n;
    else if (type == "gt") m.base.min = n + 1;
    else if (type == "gte") m.base.min = n;
    else if (type == "lt" && n > 0) m.base.max = n - 1;
    else if (type == "lte") m.base.max = n;
    else throw Refused(where + ".match.type", "\"" + type + "\" on a length");
    return m;
  }
  static const std::map<std::string, std::string> ops = {{"regex", "pattern"}, {"equals", "equals"}, {"contains", "contains"},
                                                         {"startsWith", "starts_with"}, {"endsWith", "ends_with"}};
  auto it = ops.find(type);
  if (it == ops.end()) {
    throw Refused(where + ".match.type", "\"" + type + "\" has no mitigd equivalent" +
                                             (type.starts_with("libinjection") ? " (mitigd has no SQL or XSS tokenizer)" : ""));
  }
  m.base.op = it->second;
  bool lowered = std::find(m.transforms.begin(), m.transforms.end(), "lowercase") != m.transforms.end();
  bool has_upper = std::any_of(value.begin(), value.end(), ::isupper), has_lower = std::any_of(value.begin(), value.end(), ::islower);
  if (m.base.op != "pattern" && ((lowered && has_upper) || (m.upper && has_lower))) {
    throw Refused(where + ".match.value", "a value that can never match after the case transform");
  }
  return m;
}

// One leaf: OR over its zones and variables.
std::vector<Alternative> leaf_alternatives(const json::object& leaf, const std::string& where) {
  for (const auto& kv : leaf) {
    static const char* known[] = {"zones", "variables", "transform", "match"};
    if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return kv.key() == k; })) {
      throw Refused(where + "." + std::string(kv.key()), "an unknown field");
    }
  }
  Matcher m = matcher_of(leaf, where);
  std::vector<std::string> variables;
  if (const json::value* v = leaf.if_contains("variables")) {
    for (const auto& x : v->is_array() ? v->as_array() : json::array{*v}) variables.push_back(str(x, where + ".variables"));
  }
  std::vector<Alternative> out;
  for (const auto& zv : list(leaf, "zones", where)) {
    std::string zone = str(zv, where + ".zones");
    auto z = zones().find(zone);
    if (z == zones().end()) throw Refused(where + ".zones", "the zone " + zone + " has no mitigd equivalent");
    if (!variables.empty() && z->second.named.empty()) throw Refused(where + ".variables", "variables on the zone " + zone);
    if (variables.empty() && z->second.input.empty()) throw Refused(where + ".zones", zone + " without variables (any cookie) has no mitigd equivalent");
    std::vector<std::string> inputs;
    for (const auto& v : variables) {
      if (v.starts_with("json.")) throw Refused(where + ".variables", "JSON body fields (" + v + ") are not parsed by mitigd");
      inputs.push_back(z->second.named + v);
    }
    if (variables.empty()) inputs.push_back(z->second.input);
    for (const auto& input : inputs) {
      Condition c = m.base;
      c.input = input;
      if (z->second.decoded) c.transforms.push_back("decode");
      c.transforms.insert(c.transforms.end(), m.transforms.begin(), m.transforms.end());
      out.push_back({c});
    }
  }
  if (m.base.negate && out.size() > 1) {
    throw Refused(where + ".match.not", "a negated match over several zones or variables (it would be an AND)");
  }
  return out;
}

std::vector<Alternative> alternatives(const json::value& v, const std::string& where, int depth) {
  if (depth > 8 || !v.is_object()) throw Refused(where, depth > 8 ? "nested deeper than 8 levels" : "expected a rule object");
  const json::object& o = v.as_object();
  for (const char* op : {"and", "or"}) {
    if (!o.contains(op)) continue;
    if (o.size() != 1) throw Refused(where, std::string("\"") + op + "\" beside other fields");
    const json::array& items = list(o, op, where);
    std::vector<Alternative> acc = std::string(op) == "and" ? std::vector<Alternative>{{}} : std::vector<Alternative>{};
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto sub = alternatives(items[i], where + "." + op + "[" + std::to_string(i) + "]", depth + 1);
      if (std::string(op) == "and") acc = and_of(acc, sub, where);
      else acc.insert(acc.end(), sub.begin(), sub.end());
    }
    if (acc.size() > 32) throw Refused(where, "more than 32 alternatives; split the rule by hand");
    return acc;
  }
  return leaf_alternatives(o, where);
}

std::string id_from(const std::string& name) {
  std::string base = name.substr(name.find('/') == std::string::npos ? 0 : name.find('/') + 1), out;
  for (char c : base) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '-';
  if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0]))) out = "cs-" + out;
  return out.substr(0, 32);
}

}  // namespace

std::string import_crowdsec(const std::string& file, std::string_view text, ManifestMeta meta) {
  json::value doc = yaml_to_json(file, text);
  if (!doc.is_object()) throw Refused(file, "expected a CrowdSec AppSec rule (name, rules)");
  const json::object& o = doc.as_object();
  for (const auto& kv : o) {
    static const char* known[] = {"name", "description", "rules", "labels", "debug", "format"};
    if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return kv.key() == k; })) {
      throw Refused(file + ": " + std::string(kv.key()), "a field mitigd does not know (refused rather than ignored)");
    }
  }
  std::string name = o.contains("name") ? str(o.at("name"), file + ": name") : "";
  std::string description = o.contains("description") ? str(o.at("description"), file + ": description") : "";
  std::vector<Alternative> all;
  const json::array& rules = list(o, "rules", file + ": rules");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    auto alts = alternatives(rules[i], file + ": rules[" + std::to_string(i) + "]", 0);
    all.insert(all.end(), alts.begin(), alts.end());
  }
  if (all.size() > 32) throw Refused(file + ": rules", "more than 32 alternatives; split the rule by hand");
  if (meta.id.empty()) meta.id = id_from(name);
  if (meta.title.empty()) meta.title = (!description.empty() ? description : name).substr(0, 120);
  if (meta.description.empty()) meta.description = "Imported from the CrowdSec AppSec rule " + name + ".";
  if (meta.cves.empty()) meta.cves = cves_in(name + " " + description + " " + (o.contains("labels") ? json::serialize(o.at("labels")) : ""));
  return build_manifest(meta, all, file);
}

}  // namespace mitigd::importers
