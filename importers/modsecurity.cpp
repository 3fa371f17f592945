#include "importers/modsecurity.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace mitigd::importers {

namespace {

// One SecRule: VARIABLES, OPERATOR, ACTIONS, as written (quotes removed, escapes resolved).
struct SecRule {
  std::string variables, op, actions, where;
};

// Splits a directive line into its words: double-quoted strings may hold spaces and \" escapes.
std::vector<std::string> words_of(const std::string& line, const std::string& where) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    std::string w;
    if (line[i] == '"') {
      ++i;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) ++i;
        w += line[i++];
      }
      if (i >= line.size()) throw Refused(where, "an unterminated quoted string");
      ++i;
    } else {
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) w += line[i++];
    }
    out.push_back(w);
  }
  return out;
}

// The directives of a file: comments dropped, backslash continuations joined.
std::vector<std::vector<SecRule>> chains_of(const std::string& file, std::string_view text) {
  std::vector<std::vector<SecRule>> chains;
  std::istringstream in{std::string(text)};
  std::string line, joined;
  bool open_chain = false;
  int n = 0, start = 0;
  while (std::getline(in, line)) {
    ++n;
    if (joined.empty()) start = n;
    if (!line.empty() && line.back() == '\\') {
      joined += line.substr(0, line.size() - 1);
      continue;
    }
    joined += line;
    std::string where = file + ":" + std::to_string(start);
    std::string trimmed = joined.substr(std::min(joined.size(), joined.find_first_not_of(" \t")));
    joined.clear();
    if (trimmed.empty() || trimmed[0] == '#') continue;
    auto w = words_of(trimmed, where);
    if (w.empty()) continue;  // other whitespace only
    if (w[0] != "SecRule") throw Refused(where, "the directive " + w[0] + " (only SecRule is imported)");
    if (w.size() < 3 || w.size() > 4) throw Refused(where, "expected SecRule VARIABLES \"OPERATOR\" \"ACTIONS\"");
    SecRule r{w[1], w[2], w.size() == 4 ? w[3] : "", where};
    if (!open_chain) chains.emplace_back();
    chains.back().push_back(r);
    open_chain = (("," + r.actions + ",").find(",chain,") != std::string::npos);
  }
  if (open_chain) throw Refused(file, "the last rule ends with chain but nothing follows");
  return chains;
}

// A variable: the mitigd inputs it covers (ARGS is the query's and the body's, NAME appended for a
// selector) and whether its value arrives decoded (ModSecurity decodes arguments).
std::vector<Condition> variable_conditions(const std::string& spec, const std::string& where) {
  static const std::map<std::string, std::pair<std::vector<std::string>, bool>> plain = {
      {"ARGS", {{"args", "body_args"}, true}},       {"ARGS_GET", {{"args"}, true}},
      {"ARGS_POST", {{"body_args"}, true}},          {"ARGS_NAMES", {{"arg_names", "body_arg_names"}, true}},
      {"ARGS_GET_NAMES", {{"arg_names"}, true}},     {"ARGS_POST_NAMES", {{"body_arg_names"}, true}},
      {"REQUEST_HEADERS", {{"headers"}, false}},     {"REQUEST_HEADERS_NAMES", {{"header_names"}, false}},
      {"REQUEST_METHOD", {{"method"}, false}},       {"REQUEST_URI", {{"request_uri"}, false}},
      {"REQUEST_URI_RAW", {{"request_uri"}, false}}, {"REQUEST_FILENAME", {{"path_raw_decoded"}, false}},
      {"QUERY_STRING", {{"query"}, false}},          {"REQUEST_BODY", {{"body"}, false}},
      {"FILES", {{"files"}, false}},
  };
  static const std::map<std::string, std::pair<std::vector<std::string>, bool>> named = {
      {"ARGS", {{"arg:", "body_arg:"}, true}}, {"ARGS_GET", {{"arg:"}, true}}, {"ARGS_POST", {{"body_arg:"}, true}},
      {"REQUEST_HEADERS", {{"header:"}, false}}, {"REQUEST_COOKIES", {{"cookie:"}, false}},
  };
  std::vector<Condition> out;
  std::istringstream parts(spec);
  for (std::string v; std::getline(parts, v, '|');) {
    if (v.empty() || v[0] == '!' || v[0] == '&') {
      throw Refused(where, "the variable \"" + v + "\" (" + (v.empty() ? "empty" : v[0] == '!' ? "exclusions" : "counts") +
                               " have no mitigd equivalent)");
    }
    auto colon = v.find(':');
    std::string base = v.substr(0, colon), sel = colon == std::string::npos ? "" : v.substr(colon + 1);
    if (!sel.empty() && sel.front() == '/') throw Refused(where, "the regex selector " + v + " has no mitigd equivalent");
    const auto& table = sel.empty() ? plain : named;
    auto it = table.find(base);
    if (it == table.end()) throw Refused(where, "the variable " + v + " has no mitigd equivalent");
    for (const auto& input : it->second.first) {
      Condition c;
      c.input = input + sel;
      if (it->second.second) c.transforms.push_back("decode");
      out.push_back(c);
    }
  }
  return out;
}

// The operator and the rule's transformations onto each condition.
void apply_operator(std::vector<Condition>& conds, const std::string& op_text, const std::vector<std::string>& t,
                    bool length, const std::string& where) {
  std::string op = op_text;
  bool negate = !op.empty() && op[0] == '!';
  if (negate) op.erase(0, 1);
  std::string name = "@rx", arg = op;
  if (!op.empty() && op[0] == '@') {
    auto sp = op.find(' ');
    name = op.substr(0, sp);
    arg = sp == std::string::npos ? "" : op.substr(sp + 1);
  }
  Condition proto;
  if (length) {
    std::size_t n = 0;
    try {
      n = static_cast<std::size_t>(std::stoul(arg));
    } catch (...) {
      throw Refused(where, "t:length needs a numeric operator argument");
    }
    proto.op = "length";
    if (name == "@eq") proto.min = proto.max = n;
    else if (name == "@gt") proto.min = n + 1;
    else if (name == "@ge") proto.min = n;
    else if (name == "@lt" && n > 0) proto.max = n - 1;
    else if (name == "@le") proto.max = n;
    else throw Refused(where, "the operator " + name + " on t:length");
  } else {
    static const std::map<std::string, std::string> ops = {{"@rx", "pattern"}, {"@contains", "contains"}, {"@streq", "equals"},
                                                           {"@beginsWith", "starts_with"}, {"@endsWith", "ends_with"}};
    auto it = ops.find(name);
    if (it == ops.end()) throw Refused(where, "the operator " + name + " has no mitigd equivalent");
    if (arg.empty()) throw Refused(where, "an empty operator argument");
    proto.op = it->second;
    proto.value = arg;
  }
  if (negate && conds.size() > 1) throw Refused(where, "a negated operator over several variables (it would be an AND)");
  for (Condition& c : conds) {
    c.op = proto.op;
    c.value = proto.value;
    c.min = proto.min;
    c.max = proto.max;
    c.negate = negate;
    c.case_sensitive = true;
    c.transforms.insert(c.transforms.end(), t.begin(), t.end());
  }
}

struct Actions {
  std::vector<std::string> transforms;
  bool length = false, pass = false;
  int status = 0;
  std::string msg;
};

Actions actions_of(const std::string& text, bool first, const std::string& where) {
  Actions a;
  std::vector<std::string> items;
  std::string cur;
  bool quoted = false;
  for (char c : text) {
    if (c == '\'') quoted = !quoted;
    if (c == ',' && !quoted) {
      items.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) items.push_back(cur);
  for (std::string item : items) {
    item.erase(0, item.find_first_not_of(' '));
    std::string key = item.substr(0, item.find(':')), val = item.find(':') == std::string::npos ? "" : item.substr(item.find(':') + 1);
    if (!val.empty() && val.front() == '\'' && val.back() == '\'' && val.size() >= 2) val = val.substr(1, val.size() - 2);
    if (key == "t") {
      if (a.length) throw Refused(where, "a transformation after t:length");
      if (val == "none") a.transforms.clear();
      else if (val == "lowercase") a.transforms.push_back("lowercase");
      else if (val == "urlDecode") a.transforms.push_back("decode");
      else if (val == "base64Decode") a.transforms.push_back("base64");
      else if (val == "length") a.length = true;
      else throw Refused(where, "the transformation t:" + val + " has no mitigd equivalent");
    } else if (key == "status") {
      a.status = std::atoi(val.c_str());
    } else if (key == "pass") {
      a.pass = true;
    } else if (key == "msg") {
      a.msg = val;
    } else if (key == "chain" || key == "id" || key == "phase" || key == "deny" || key == "block" || key == "drop" ||
               key == "log" || key == "nolog" || key == "auditlog" || key == "noauditlog" || key == "tag" || key == "rev" ||
               key == "ver" || key == "severity" || key == "maturity" || key == "accuracy" || key == "logdata" ||
               key == "capture") {
      if (!first && (key == "id" || key == "phase" || key == "deny" || key == "block" || key == "drop")) {
        throw Refused(where, "the disruptive or meta action \"" + key + "\" in a chained rule");
      }
    } else {
      throw Refused(where, "the action \"" + key + "\" has no mitigd equivalent");
    }
  }
  return a;
}

}  // namespace

std::string import_modsecurity(const std::string& file, std::string_view text, ManifestMeta meta) {
  std::vector<Alternative> all;
  std::string messages;
  int status = 0;
  bool pass = false;
  for (const auto& chain : chains_of(file, text)) {
    std::vector<Alternative> acc{{}};
    for (std::size_t k = 0; k < chain.size(); ++k) {
      const SecRule& r = chain[k];
      Actions a = actions_of(r.actions, k == 0, r.where);
      if (k == 0) {
        status = a.status ? a.status : status;
        pass = pass || a.pass;
        messages += a.msg + " ";
      }
      auto conds = variable_conditions(r.variables, r.where);
      apply_operator(conds, r.op, a.transforms, a.length, r.where);
      std::vector<Alternative> ors;
      for (auto& c : conds) ors.push_back({c});
      acc = and_of(acc, ors, r.where);
    }
    all.insert(all.end(), acc.begin(), acc.end());
  }
  if (all.size() > 32) throw Refused(file, "more than 32 alternatives; split the rules by hand");
  if (status && (status < 400 || status > 599)) throw Refused(file, "status:" + std::to_string(status) + " (mitigd answers 400-599)");
  meta.status = status ? status : 403;
  if (pass) meta.mode = "detect";  // `pass`: the rule logs and lets the request through
  if (meta.title.empty()) meta.title = !messages.empty() && messages != " " ? messages.substr(0, 120) : "Imported ModSecurity rules";
  while (!meta.title.empty() && meta.title.back() == ' ') meta.title.pop_back();
  if (meta.cves.empty()) meta.cves = cves_in(messages + std::string(text));
  if (meta.description.empty()) meta.description = "Imported from the ModSecurity rules in " + file + ".";
  if (meta.id.empty()) throw Refused(file, "an id is needed (--id)");
  return build_manifest(meta, all, file);
}

}  // namespace mitigd::importers
