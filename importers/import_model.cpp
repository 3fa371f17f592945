#include "importers/import_model.hpp"

#include "policies/manifest.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <regex>

namespace mitigd::importers {
namespace json = boost::json;

std::vector<Alternative> and_of(const std::vector<Alternative>& a, const std::vector<Alternative>& b, const std::string& where,
                                std::size_t limit) {
  if (a.size() * b.size() > limit) {
    throw Refused(where, "the rule expands to " + std::to_string(a.size() * b.size()) + " alternatives (more than " +
                             std::to_string(limit) + "); split it by hand");
  }
  std::vector<Alternative> out;
  for (const auto& x : a) {
    for (const auto& y : b) {
      Alternative both = x;
      both.insert(both.end(), y.begin(), y.end());
      out.push_back(std::move(both));
    }
  }
  return out;
}

namespace {

json::object condition_json(const Condition& c) {
  json::object o{{"input", c.input}};
  if (!c.transforms.empty()) {
    json::array t;
    for (const auto& x : c.transforms) t.push_back(json::string(x));
    o["transforms"] = std::move(t);
  }
  if (c.op == "length") {
    json::object len;
    if (c.min) len["min"] = *c.min;
    if (c.max) len["max"] = *c.max;
    o["length"] = std::move(len);
  } else {
    o[c.op] = c.value;
    o["case"] = c.case_sensitive ? "sensitive" : "insensitive";
  }
  if (c.negate) o["negate"] = true;
  return o;
}

// Two-space indentation, one field per line: a manifest is reviewed in git before it is published.
void pretty(const json::value& v, std::string& out, int indent) {
  std::string pad(static_cast<std::size_t>(indent) * 2, ' '), inner(static_cast<std::size_t>(indent + 1) * 2, ' ');
  if (const auto* o = v.if_object(); o && !o->empty()) {
    out += "{\n";
    std::size_t i = 0;
    for (const auto& kv : *o) {
      out += inner + json::serialize(json::value(kv.key())) + ": ";
      pretty(kv.value(), out, indent + 1);
      out += ++i < o->size() ? ",\n" : "\n";
    }
    out += pad + "}";
  } else if (const auto* a = v.if_array(); a && !a->empty()) {
    out += "[\n";
    for (std::size_t i = 0; i < a->size(); ++i) {
      out += inner;
      pretty((*a)[i], out, indent + 1);
      out += i + 1 < a->size() ? ",\n" : "\n";
    }
    out += pad + "]";
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

std::string build_manifest(const ManifestMeta& meta, const std::vector<Alternative>& alternatives, const std::string& source) {
  if (alternatives.empty()) throw Refused(source, "no rule to import");
  json::array actions;
  for (std::size_t i = 0; i < alternatives.size(); ++i) {
    json::array when;
    for (const Condition& c : alternatives[i]) when.push_back(condition_json(c));
    std::string name = alternatives.size() == 1 ? "imported rule" : "imported rule, alternative " + std::to_string(i + 1);
    json::object action{{"kind", "rewrite_rule"}, {"name", name}, {"when", std::move(when)}};
    action["respond"] = meta.status == 403 ? json::value("deny") : json::value(json::object{{"status", meta.status}});
    actions.push_back(std::move(action));
  }
  json::object applies{{"product", meta.product}, {"fixed_in", meta.fixed_in}};
  if (!meta.min.empty()) applies["min"] = meta.min;
  json::array cves;
  for (const auto& c : meta.cves) cves.push_back(json::string(c));
  json::object m{{"schema", 1}, {"id", meta.id}, {"revision", 1}, {"title", meta.title}};
  if (!meta.description.empty()) m["description"] = meta.description;
  m["cves"] = std::move(cves);
  m["severity"] = meta.severity;
  if (meta.mode != "enforce") m["mode"] = meta.mode;
  m["applies_to"] = std::move(applies);
  m["actions"] = std::move(actions);
  std::string text;
  pretty(m, text, 0);
  auto parsed = parse_manifest(source + " (imported)", text);
  if (!parsed) throw Refused(source, "the imported manifest does not validate: " + parsed.error().message);
  return text;
}

std::vector<std::string> cves_in(const std::string& text) {
  static const std::regex cve("CVE-[0-9]{4}-[0-9]{4,7}", std::regex::icase);
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), cve); it != std::sregex_iterator(); ++it) {
    std::string id = it->str();
    std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

}  // namespace mitigd::importers
