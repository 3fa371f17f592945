#include "reconcilers/web_rules.hpp"

#include "reconcilers/rule_counters.hpp"

#include "policies/core_rules.hpp"
#include "policies/pattern_literals.hpp"
#include "policies/request_semantics.hpp"

#include <botan/hash.h>
#include <botan/hex.h>

#include <optional>
#include <sstream>

namespace mitigd::web {

bool is_web_action(ActionKind kind) {
  return kind == ActionKind::rewrite_rule || kind == ActionKind::response_header ||
         kind == ActionKind::disable_vdir || kind == ActionKind::disable_app_pool;
}

std::string file_name_for(const std::string& mitigation_id) { return "mitigd-" + mitigation_id + ".conf"; }

namespace {

std::string sha256_hex(const std::string& text) {
  auto h = Botan::HashFunction::create_or_throw("SHA-256");
  h->update(text);
  return Botan::hex_encode(h->final(), false);
}

// Variable-name-safe and collision-free: the id in hex.
std::string var_id(const std::string& id) {
  return Botan::hex_encode(reinterpret_cast<const uint8_t*>(id.data()), id.size(), false);
}

// The scope as a case-insensitive regex on the normalised path: "/owa/" matches /owa and /owa/...
// (IIS paths are case-insensitive, so /OWA/ reaches OWA too). Scopes are validated to
// [A-Za-z0-9/._~-], so only '.' needs escaping.
std::string status_of(const RuleResponse& r) {
  switch (r.kind) {
    case RuleResponse::Kind::abort: return "444";
    case RuleResponse::Kind::deny: return "403";
    case RuleResponse::Kind::status: return std::to_string(r.status);
  }
  return "403";
}

std::string nginx_header_var(const std::string& lower_name) {
  std::string v = "$http_";
  for (char c : lower_name) v += c == '-' ? '_' : c;
  return v;
}

std::string regex_literal(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) out += '\\';
    out += c;
  }
  return out;
}

std::vector<std::string> vdir_prefixes(const Action& a, const Inventory& inv) {
  std::vector<std::string> out;
  if (a.kind == ActionKind::disable_vdir) {
    auto it = inv.vdirs.find(std::get<DisableVdir>(a.detail).vdir);
    if (it != inv.vdirs.end()) out.push_back(it->second.prefix);
  } else if (a.kind == ActionKind::disable_app_pool) {
    const auto& pool = std::get<DisableAppPool>(a.detail).app_pool;
    for (const auto& [name, v] : inv.vdirs) {
      if (v.app_pool == pool) out.push_back(v.prefix);
    }
  }
  return out;
}

int vdir_status(const Action& a) {
  return a.kind == ActionKind::disable_vdir ? std::get<DisableVdir>(a.detail).status
                                            : std::get<DisableAppPool>(a.detail).status;
}

// The nginx variable a condition reads, a ready one when possible; otherwise (a named cookie, a
// decoded header or cookie) the directives that compute it are written first into `server`.
std::string nginx_condition_input(std::ostringstream& server, const Condition& cond, const std::string& in_var) {
  std::string input;
  switch (cond.input.kind) {
    case InputKind::request_uri: return cond.decode ? "$mitigd_request_uri_decoded" : "$request_uri";
    case InputKind::path: return "$uri";
    case InputKind::query: return cond.decode ? "$mitigd_args_decoded" : "$args";
    case InputKind::method: return "$request_method";
    case InputKind::header: input = nginx_header_var(cond.input.name); break;
    case InputKind::cookie: input = "$http_cookie"; break;
    case InputKind::cookie_named:
      // Same as $cookie_NAME, but works for names with '-' (X-BEResource), which nginx
      // variable names cannot hold.
      server << "set " << in_var << " \"\";\n";
      server << "if ($http_cookie ~* " << nginx_quote("(?:^|;)[ \\t]*" + regex_literal(cond.input.name) + "=([^;]*)")
             << ") { set " << in_var << " $1; }\n";
      input = in_var;
      break;
    default: break;  // refused before (engine_cannot)
  }
  if (cond.decode) {
    server << "set_unescape_uri " << in_var << "_d " << input << ";\n";
    input = in_var + "_d";
  }
  return input;
}

// Whether the condition's input is a variable nginx already has (nothing to compute first).
bool nginx_input_is_ready(const Condition& cond) {
  switch (cond.input.kind) {
    case InputKind::header:
    case InputKind::cookie: return !cond.decode;
    case InputKind::cookie_named: return false;
    default: return true;
  }
}

std::string nginx_match_op(const Condition& cond) {
  return cond.negate ? (cond.pattern.case_sensitive() ? "!~" : "!~*") : (cond.pattern.case_sensitive() ? "~" : "~*");
}

void render_nginx_rule(std::ostringstream& server, const std::string& vid, std::size_t index, const Action& a,
                       const RewriteRule& rule) {
  std::string flag = "$mitigd_f_" + vid + "_" + std::to_string(index);
  std::string in_prefix = "$mitigd_i_" + vid + "_" + std::to_string(index) + "_";
  // The common case, one condition on a ready variable with no scope, is one `if`: every
  // directive costs each request, matched or not.
  if (!a.scope && rule.when.size() == 1 && nginx_input_is_ready(rule.when[0])) {
    const Condition& cond = rule.when[0];
    server << "if (" << nginx_condition_input(server, cond, in_prefix + "0") << " " << nginx_match_op(cond) << " "
           << nginx_quote(cond.pattern.effective()) << ") { return " << status_of(rule.respond) << "; }\n";
    return;
  }
  // Otherwise every condition that holds appends its mark to a flag; all marks present: respond.
  std::string expected;
  server << "set " << flag << " \"\";\n";
  if (a.scope) {
    server << "if ($uri ~* " << nginx_quote(scope_regex(*a.scope)) << ") { set " << flag << " \"s\"; }\n";
    expected += "s";
  }
  for (std::size_t c = 0; c < rule.when.size(); ++c) {
    const Condition& cond = rule.when[c];
    std::string input = nginx_condition_input(server, cond, in_prefix + std::to_string(c));
    std::string mark = std::to_string(c % 10);
    server << "if (" << input << " " << nginx_match_op(cond) << " " << nginx_quote(cond.pattern.effective()) << ") { set "
           << flag << " \"${" << flag.substr(1) << "}" << mark << "\"; }\n";
    expected += mark;
  }
  server << "if (" << flag << " = \"" << expected << "\") { return " << status_of(rule.respond) << "; }\n";
}

// One mitigd_rule directive: the rule core's words (policies/core_rules), which the offline tester
// compiles with the same core. Literals go in as hex: they may hold any byte.
void render_module_rule(std::ostringstream& server, const Manifest& m, std::size_t index, const Action& a,
                        const RewriteRule& rule) {
  auto w = core_rule_words(m, index, a, rule);
  server << "mitigd_rule " << nginx_quote(w[0]) << " " << w[1];
  for (std::size_t i = 2; i < w.size();) {
    if (w[i] == "scope") {
      server << "\n    scope " << nginx_quote(w[i + 1]);
      i += 2;
    } else if (w[i] == "mode") {
      server << "\n    mode " << w[i + 1];
      i += 2;
    } else if (w[i] == "body") {
      server << "\n    body " << w[i + 1] << " " << w[i + 2];
      i += 3;
    } else if (w[i] == "when") {
      server << "\n    when " << nginx_quote(w[i + 1]) << " " << w[i + 2] << " " << w[i + 3] << " " << nginx_quote(w[i + 4]);
      i += 5;
    } else {  // literals HEX,...
      server << " " << w[i] << " " << w[i + 1];
      i += 2;
    }
  }
  server << ";\n";
}

// Why a rule cannot run on this engine (empty: it can): inputs, transforms and operators that only
// the nginx module evaluates. The mitigation is then reported as not in force, with this reason.
std::string engine_cannot(const Manifest& m, const Action& a, const RewriteRule& rule, const std::string& engine) {
  if (auto why = rule_module_only_reason(m, a, rule); !why.empty()) {
    return "mitigation " + m.id + ", action \"" + a.name + "\": cannot enforce on this server (" + engine + "): " + why;
  }
  return {};
}

void render_nginx_header(std::ostringstream& http, std::ostringstream& server, const std::string& vid,
                         std::size_t index, const Action& a, const ResponseHeaderEdit& edit) {
  std::string base = vid + "_" + std::to_string(index);
  std::string lower;
  for (char c : edit.header) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string upstream = "$upstream_http_";
  for (char c : lower) upstream += c == '-' ? '_' : c;
  // In scope? (set in the rewrite phase, read when headers are sent)
  server << "set $mitigd_s_" << base << " \"\";\n";
  server << "if ($uri ~* " << nginx_quote(a.scope ? scope_regex(*a.scope) : "^/") << ") { set $mitigd_s_" << base
         << " \"1\"; }\n";
  // The upstream's header is hidden and re-added, edited where scope and content type match.
  server << "proxy_hide_header " << edit.header << ";\n";
  server << "add_header " << edit.header << " $mitigd_h_" << base << " always;\n";

  http << "map $sent_http_content_type $mitigd_t_" << base << " {\n";
  http << "    " << nginx_quote("~" + std::string(edit.content_type.case_sensitive() ? "" : "*") +
                                edit.content_type.effective())
       << " \"1\";\n    default \"\";\n}\n";
  std::string capture = "mitigd_v_" + base;
  http << "map \"$mitigd_s_" << base << "$mitigd_t_" << base << ":" << upstream << "\" $mitigd_h_" << base << " {\n";
  if (edit.mode == ResponseHeaderEdit::Mode::append) {
    http << "    \"11:\" " << nginx_quote(edit.value) << ";\n";
    http << "    \"~^11:(?<" << capture << ">.+)$\" " << nginx_quote("$" + capture + "; " + edit.value) << ";\n";
  } else {
    http << "    \"~^11:\" " << nginx_quote(edit.value) << ";\n";
  }
  http << "    \"~^[^:]*:(?<" << capture << ">.*)$\" \"$" << capture << "\";\n";
  http << "}\n";
}

Result<std::vector<RenderedFile>> render_nginx(const Manifest& m, const std::vector<std::size_t>& actions,
                                               const Inventory& inv) {
  std::ostringstream http, server;
  std::string vid = var_id(m.id);
  bool has_http = false;
  bool module = inv.web_server && inv.web_server->rules_engine == RulesEngine::module;
  for (std::size_t index : actions) {
    const Action& a = m.actions.at(index);
    if (!is_web_action(a.kind)) continue;
    server << "# action " << index << " \"" << a.name << "\" (" << to_string(a.kind) << ")\n";
    switch (a.kind) {
      case ActionKind::rewrite_rule: {
        const auto& rule = std::get<RewriteRule>(a.detail);
        if (module) {
          render_module_rule(server, m, index, a, rule);
        } else if (auto why = engine_cannot(m, a, rule, "nginx, rules_engine \"config\""); !why.empty()) {
          return make_error(Errc::invalid_input, why);
        } else {
          render_nginx_rule(server, vid, index, a, rule);
        }
        break;
      }
      case ActionKind::response_header:
        http << "# action " << index << " \"" << a.name << "\" (response_header)\n";
        render_nginx_header(http, server, vid, index, a, std::get<ResponseHeaderEdit>(a.detail));
        has_http = true;
        break;
      case ActionKind::disable_vdir:
      case ActionKind::disable_app_pool:
        for (const std::string& prefix : vdir_prefixes(a, inv)) {
          server << "if ($uri ~* " << nginx_quote(scope_regex(prefix)) << ") { return " << vdir_status(a) << "; }\n";
        }
        break;
      default:
        break;
    }
  }
  std::vector<RenderedFile> files;
  if (has_http) files.push_back({Context::http, file_name_for(m.id), with_marker(m.id, m.revision, http.str())});
  files.push_back({Context::server, file_name_for(m.id), with_marker(m.id, m.revision, server.str())});
  return files;
}

// Apache quoting: ap_getword_conf only treats a backslash before the quote character specially;
// patterns contain no double quote (refused at load), so the text goes in as it is.
std::string apache_quote(const std::string& s) { return "\"" + s + "\""; }

std::string apache_input(const Condition& cond, std::ostringstream& out) {
  switch (cond.input.kind) {
    case InputKind::request_uri:
      // %{THE_REQUEST} is "GET /path?query HTTP/1.1" as sent; take the target as %1.
      out << "RewriteCond %{THE_REQUEST} \"^\\S+\\s+(\\S*)\"\n";
      return cond.decode ? "${mitigd_unescape:%1}" : "%1";
    case InputKind::path: return "%{REQUEST_URI}";
    case InputKind::query: return cond.decode ? "${mitigd_unescape:%{QUERY_STRING}}" : "%{QUERY_STRING}";
    case InputKind::method: return "%{REQUEST_METHOD}";
    case InputKind::header: {
      std::string v = "%{HTTP:" + cond.input.name + "}";
      return cond.decode ? "${mitigd_unescape:" + v + "}" : v;
    }
    case InputKind::cookie: return cond.decode ? "${mitigd_unescape:%{HTTP:Cookie}}" : "%{HTTP:Cookie}";
    case InputKind::cookie_named:
      // Apache joins repeated Cookie headers with ", ": a cookie may follow either separator.
      out << "RewriteCond %{HTTP:Cookie} \"(?:^|[;,])[ \\t]*" << regex_literal(cond.input.name) << "=([^;,]*)\" [NC]\n";
      return cond.decode ? "${mitigd_unescape:%1}" : "%1";
    default: break;  // refused before (engine_cannot)
  }
  return "%{REQUEST_URI}";
}

// The raw input under a decoded one: "${mitigd_unescape:X}" -> "X".
std::string raw_of(const std::string& input) {
  const std::string open = "${mitigd_unescape:";
  if (input.starts_with(open) && input.ends_with("}")) return input.substr(open.size(), input.size() - open.size() - 1);
  return input;
}

Result<std::vector<RenderedFile>> render_apache(const Manifest& m, const std::vector<std::size_t>& actions,
                                                const Inventory& inv) {
  std::ostringstream out;
  for (std::size_t index : actions) {
    const Action& a = m.actions.at(index);
    if (!is_web_action(a.kind)) continue;
    out << "# action " << index << " \"" << a.name << "\" (" << to_string(a.kind) << ")\n";
    switch (a.kind) {
      case ActionKind::rewrite_rule: {
        const auto& rule = std::get<RewriteRule>(a.detail);
        if (auto why = engine_cannot(m, a, rule, "Apache mod_rewrite"); !why.empty()) return make_error(Errc::invalid_input, why);
        if (a.scope) out << "RewriteCond %{REQUEST_URI} " << apache_quote(scope_regex(*a.scope)) << " [NC]\n";
        for (const Condition& cond : rule.when) {
          std::string input = apache_input(cond, out);
          // int:unescape returns a C string: a decoded %00 would hide everything after it from
          // the pattern. A raw input carrying %00 therefore matches the condition whatever it
          // says (negated or not): the rule fails closed, as an engine error does elsewhere.
          if (cond.decode) out << "RewriteCond " << raw_of(input) << " \"%00\" [OR]\n";
          out << "RewriteCond " << input << " " << apache_quote((cond.negate ? "!" : "") + cond.pattern.effective())
              << (cond.pattern.case_sensitive() ? "" : " [NC]") << "\n";
        }
        // Apache cannot drop a connection from mod_rewrite: abort answers 403 and closes.
        std::string flags = rule.respond.kind == RuleResponse::Kind::status
                                ? "R=" + std::to_string(rule.respond.status) + ",L"
                                : "F,L";
        if (rule.respond.kind == RuleResponse::Kind::abort) flags += ",E=nokeepalive:1";
        out << "RewriteRule \"^\" \"-\" [" << flags << "]\n";
        break;
      }
      case ActionKind::response_header: {
        // mod_headers, conditioned by an ap_expr on the (decoded) path and the response's
        // content type. The value was checked at load (no quotes, backslashes, $ or %), so it
        // can be neither a format specifier nor a back-reference.
        const auto& edit = std::get<ResponseHeaderEdit>(a.detail);
        auto regex_in_expr = [&](const std::string& re, bool nocase) -> std::optional<std::string> {
          for (char sep : std::string("#|!,;:_")) {
            if (re.find(sep) == std::string::npos) return "m" + std::string(1, sep) + re + std::string(1, sep) + (nocase ? "i" : "");
          }
          return std::nullopt;
        };
        // Inside "expr=..." a backslash is itself an escape of the quoted string: the regex Apache
        // would run is not the one written (and "a\\" does not even load). Refused, not guessed.
        if (edit.content_type.source().find('\\') != std::string::npos) {
          return make_error(Errc::invalid_input, "mitigation " + m.id + ", action \"" + a.name +
                                                     "\": content_type: a pattern without backslashes on Apache (use a "
                                                     "character class such as [.] or [+])");
        }
        auto scope = regex_in_expr(a.scope ? scope_regex(*a.scope) : "^/", true);
        auto type = regex_in_expr(edit.content_type.effective(), !edit.content_type.case_sensitive());
        if (!scope || !type) {
          return make_error(Errc::invalid_input, "mitigation " + m.id + ", action \"" + a.name +
                                                     "\": the content_type pattern uses every ap_expr regex delimiter");
        }
        std::string cond = "\"expr=%{REQUEST_URI} =~ " + *scope + " && %{CONTENT_TYPE} =~ " + *type + "\"";
        if (edit.mode == ResponseHeaderEdit::Mode::append) {
          out << "Header edit " << edit.header << " \"^(.+)$\" \"$1; " << edit.value << "\" " << cond << "\n";
          out << "Header setifempty " << edit.header << " \"" << edit.value << "\" " << cond << "\n";
        } else {
          out << "Header set " << edit.header << " \"" << edit.value << "\" " << cond << "\n";
        }
        break;
      }
      case ActionKind::disable_vdir:
      case ActionKind::disable_app_pool:
        for (const std::string& prefix : vdir_prefixes(a, inv)) {
          out << "RewriteCond %{REQUEST_URI} " << apache_quote(scope_regex(prefix)) << " [NC]\n";
          out << "RewriteRule \"^\" \"-\" [R=" << vdir_status(a) << ",L]\n";
        }
        break;
      default:
        break;
    }
  }
  return std::vector<RenderedFile>{{Context::server, file_name_for(m.id), with_marker(m.id, m.revision, out.str())}};
}

}  // namespace

std::string nginx_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string with_marker(const std::string& id, std::int64_t revision, const std::string& body) {
  std::string full_body = "# Generated by mitigd from the signed manifest; do not edit: edits are repaired.\n" + body;
  return "# mitigd-managed id=" + id + " revision=" + std::to_string(revision) + " sha256=" + sha256_hex(full_body) +
         "\n" + full_body;
}

std::optional<Marker> read_marker(const std::string& text) {
  static const std::string kPrefix = "# mitigd-managed id=";
  if (!text.starts_with(kPrefix)) return std::nullopt;
  std::size_t eol = text.find('\n');
  if (eol == std::string::npos) return std::nullopt;
  std::istringstream line(text.substr(kPrefix.size(), eol - kPrefix.size()));
  Marker m;
  std::string rev, sha;
  if (!(line >> m.id >> rev >> sha) || !rev.starts_with("revision=") || !sha.starts_with("sha256=")) {
    return std::nullopt;
  }
  try {
    m.revision = std::stoll(rev.substr(9));
  } catch (...) {
    return std::nullopt;
  }
  m.sha256 = sha.substr(7);
  m.body_matches = sha256_hex(text.substr(eol + 1)) == m.sha256;
  return m;
}

std::string generation_path(const std::string& generation) { return "/.well-known/mitigd/generation/" + generation; }

std::string generation_of(const std::string& text) {
  static const std::string kKey = "# generation ";
  auto at = text.find(kKey);
  if (at == std::string::npos) return {};
  auto start = at + kKey.size();
  return text.substr(start, text.find('\n', start) - start);
}

std::vector<RenderedFile> render_prelude(WebServerKind server, const std::string& generation, RulesEngine engine) {
  // The token is hex from our own random source, never from a manifest.
  if (server == WebServerKind::nginx) {
    std::string body =
        "# generation " + generation + "\n" +
        (engine == RulesEngine::module
             ? std::string("# Rules: mitigd_rule directives of ngx_http_mitigd_module, which decodes by itself.\n")
             : std::string("# Decoded once, for every rule with \"decode\": true (set-misc's set_unescape_uri).\n"
                           "set_unescape_uri $mitigd_request_uri_decoded $request_uri;\n"
                           "set_unescape_uri $mitigd_args_decoded $args;\n")) +
        "# Answers only over loopback: tells mitigd that this configuration is the one serving.\n"
        "location = " + generation_path(generation) + " { allow 127.0.0.0/8; allow ::1; deny all; return 204; }\n";
    if (engine == RulesEngine::module) {
      body += "# Per-rule match counters of the module (mitigd_rule_matches_total), over loopback only.\n"
              "location = " + std::string(kCountersPath) + " { allow 127.0.0.0/8; allow ::1; deny all; mitigd_counters; }\n";
    }
    return {{Context::server, kPreludeName, with_marker("_prelude", 1, body)}};
  }
  std::string body =
      "# generation " + generation + "\n"
      "RewriteEngine On\n"
      "RewriteMap mitigd_unescape int:unescape\n"
      "RewriteCond %{REMOTE_ADDR} \"^(?:127\\.|::1$)\"\n"
      "RewriteRule \"^" + generation_path(generation) + "$\" \"-\" [R=204,L]\n";
  return {{Context::server, kPreludeName, with_marker("_prelude", 1, body)}};
}

Result<std::vector<RenderedFile>> render(WebServerKind server, const Manifest& m,
                                         const std::vector<std::size_t>& actions, const Inventory& inventory) {
  return server == WebServerKind::nginx ? render_nginx(m, actions, inventory) : render_apache(m, actions, inventory);
}

}  // namespace mitigd::web
