#include "daemon/wiring_apache.hpp"

#include "policies/json_input.hpp"
#include "reconcilers/web_config_watch.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>

namespace mitigd {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Words of a directive line: whitespace-separated, double quotes grouping (and removed).
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, any = false;
  for (char c : text) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
      if (any) out.push_back(cur);
      cur.clear();
      any = false;
    } else {
      cur += c;
      any = true;
    }
  }
  if (any) out.push_back(cur);
  return out;
}

// Logical lines (backslash continuations joined), comments and blank lines dropped, with the line
// number each starts on.
std::vector<std::pair<std::size_t, std::string>> logical_lines(const std::string& text) {
  std::vector<std::pair<std::size_t, std::string>> out;
  std::istringstream in(text);
  std::string line, acc;
  std::size_t n = 0, start = 0;
  while (std::getline(in, line)) {
    ++n;
    if (acc.empty()) start = n;
    if (!line.empty() && line.back() == '\\') {
      acc += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    acc += line;
    auto first = acc.find_first_not_of(" \t\r");
    if (first != std::string::npos && acc[first] != '#') out.emplace_back(start, acc.substr(first));
    acc.clear();
  }
  return out;
}

int port_of_address(const std::string& addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || addr.back() == ']') return -1;  // no port: every port
  const std::string port = addr.substr(colon + 1);
  if (port == "*" || port.empty() || !std::all_of(port.begin(), port.end(), ::isdigit) || port.size() > 5) return -1;
  return std::stoi(port);
}

const std::set<std::string> kTransparent = {"ifmodule", "ifdefine", "ifversion", "iffile", "ifdirective", "ifsection"};

}  // namespace

bool apache_includes_dir(const ApacheDirective& d, const std::string& dir) {
  if (d.name != "include" && d.name != "includeoptional") return false;
  if (d.args.empty()) return false;
  auto norm = [](const fs::path& p) { return p.lexically_normal().string(); };
  return norm(fs::path(d.args[0]).parent_path()) == norm(dir) || norm(d.args[0]) == norm(dir);
}

bool apache_vhost_on_port(const ApacheVhost& v, int port) {
  return std::find(v.ports.begin(), v.ports.end(), port) != v.ports.end() ||
         std::find(v.ports.begin(), v.ports.end(), -1) != v.ports.end();
}

bool apache_engine_off(const ApacheDirective& d) {
  return d.name == "rewriteengine" && !d.args.empty() && lower(d.args[0]) == "off";
}

bool apache_loads_rewrite(const ApacheConfig& config) {
  return std::any_of(config.main.begin(), config.main.end(), [](const ApacheDirective& d) {
    return d.name == "loadmodule" && !d.args.empty() && d.args[0] == "rewrite_module";
  });
}

namespace {

std::string where(const std::string& file, std::size_t line) { return file + ":" + std::to_string(line); }


}  // namespace

ApacheConfig parse_apache_config(const std::vector<std::pair<std::string, std::string>>& files) {
  ApacheConfig config;
  for (const auto& [file, text] : files) {
    std::vector<std::string> stack;  // open sections, lower case
    int vhost = -1;                  // index of the open vhost
    std::size_t opaque = 0;          // depth of per-directory sections around this line
    for (const auto& [line, content] : logical_lines(text)) {
      if (content.starts_with("</")) {
        if (stack.empty()) continue;
        const std::string closed = stack.back();
        stack.pop_back();
        if (closed == "virtualhost") vhost = -1;
        else if (!kTransparent.contains(closed) && opaque > 0) --opaque;
        continue;
      }
      if (content.starts_with("<")) {
        std::string inner = content.substr(1, content.find('>') == std::string::npos ? std::string::npos : content.find('>') - 1);
        auto w = words(inner);
        if (w.empty()) continue;
        std::string name = lower(w[0]);
        stack.push_back(name);
        if (name == "virtualhost") {
          ApacheVhost v{file, line, {}, {}};
          for (std::size_t i = 1; i < w.size(); ++i) v.ports.push_back(port_of_address(w[i]));
          config.vhosts.push_back(std::move(v));
          vhost = static_cast<int>(config.vhosts.size()) - 1;
        } else if (!kTransparent.contains(name)) {
          ++opaque;
        }
        continue;
      }
      if (opaque > 0) continue;
      auto w = words(content);
      ApacheDirective d{file, line, lower(w[0]), std::vector<std::string>(w.begin() + 1, w.end())};
      (vhost >= 0 ? config.vhosts[vhost].directives : config.main).push_back(std::move(d));
    }
  }
  return config;
}

namespace {

CheckItem fail(std::string name, std::string detail, std::string fix) {
  return CheckItem{CheckItem::Level::fail, std::move(name), std::move(detail), std::move(fix), true};
}

// One vhost (or the main server when no vhost answers the port): the include present, first among
// the rewrite directives, and no RewriteEngine Off after it.
void check_placement(const std::string& name, const std::vector<ApacheDirective>& directives, const std::string& where_to_add,
                     const WebServer& w, const ApacheDirective* main_include, std::vector<CheckItem>& out) {
  const std::string add = "IncludeOptional " + w.server_include_dir + "/*.conf";
  auto inc = std::find_if(directives.begin(), directives.end(),
                          [&](const ApacheDirective& d) { return apache_includes_dir(d, w.server_include_dir); });
  if (inc == directives.end()) {
    std::string detail = "does not include " + w.server_include_dir;
    if (main_include) {
      bool inherit = std::any_of(directives.begin(), directives.end(), [](const ApacheDirective& d) {
        return d.name == "rewriteoptions" && !d.args.empty() && lower(d.args[0]).starts_with("inherit");
      });
      detail += ": the include in the main server at " + where(main_include->file, main_include->line) +
                " does not apply to a virtual host" +
                (inherit ? " (RewriteOptions Inherit runs it after this host's own rules, where an [L] wins)" : "");
    }
    out.push_back(fail(name, detail, "add `" + add + "` as the first line " + where_to_add));
    return;
  }
  bool ok = true;
  for (auto it = directives.begin(); it != inc; ++it) {
    if (it->name != "rewriterule") continue;
    out.push_back(fail(name, "the RewriteRule at " + where(it->file, it->line) + " comes before mitigd's include at " +
                                 where(inc->file, inc->line) + ": a rule with [L] ends the round before mitigd's rules run",
                       "move `" + add + "` up, to the first line " + where_to_add));
    ok = false;
    break;
  }
  for (auto it = inc + 1; it != directives.end(); ++it) {
    if (!apache_engine_off(*it)) continue;
    out.push_back(fail(name, "`RewriteEngine Off` at " + where(it->file, it->line) +
                                 " switches every mitigd rule off (apache2 -t still passes)",
                       "remove the line at " + where(it->file, it->line) + " (mitigd's include turns the engine on)"));
    ok = false;
  }
  if (ok) out.push_back(CheckItem{CheckItem::Level::ok, name, "includes " + w.server_include_dir + " before any RewriteRule", {}, false});
}

}  // namespace

std::vector<CheckItem> check_apache_config(const ApacheConfig& config, const WebServer& w) {
  std::vector<CheckItem> out;
  if (apache_loads_rewrite(config)) {
    out.push_back(CheckItem{CheckItem::Level::ok, "mod_rewrite", "loaded", {}, false});
  } else {
    out.push_back(fail("mod_rewrite", "not loaded: mitigd's Apache rules are mod_rewrite rules",
                       "a2enmod rewrite (then mitigctl check again)"));
  }
  auto parts = parse_loopback_url(w.probe_url);
  const int port = parts ? parts->port : 80;
  auto main_include = std::find_if(config.main.begin(), config.main.end(),
                                   [&](const ApacheDirective& d) { return apache_includes_dir(d, w.server_include_dir); });
  const ApacheDirective* main_inc = main_include == config.main.end() ? nullptr : &*main_include;
  bool any = false;
  for (const auto& v : config.vhosts) {
    if (!apache_vhost_on_port(v, port)) continue;
    any = true;
    check_placement("<VirtualHost> at " + where(v.file, v.line), v.directives,
                    "inside the <VirtualHost> at " + where(v.file, v.line), w, main_inc, out);
  }
  if (!any) {
    check_placement("main server (no <VirtualHost> answers port " + std::to_string(port) + ")", config.main,
                    "of the main server config, or in the <VirtualHost> that answers " + w.probe_url, w, nullptr, out);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> apache_enabled_files(const WebServer& w) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& path : web::view_config(w).files) {
    fs::path p(path);
    std::string dir = p.parent_path().filename().string();
    if (dir.ends_with("-available")) {
      // Debian's layout: a file in sites-available counts only through a link in sites-enabled.
      fs::path enabled = p.parent_path().parent_path() / (dir.substr(0, dir.size() - 10) + "-enabled");
      std::error_code ec;
      bool linked = false;
      for (const auto& e : fs::directory_iterator(enabled, ec)) linked = linked || fs::weakly_canonical(e.path(), ec) == p;
      if (!linked) continue;
    }
    if (auto text = json_input::read_file_capped(path, 4 * 1024 * 1024)) files.emplace_back(path, std::move(*text));
  }
  return files;
}

void check_apache_wiring(const WebServer& w, std::vector<CheckItem>& out) {
  auto files = apache_enabled_files(w);
  if (files.empty()) {
    out.push_back(CheckItem{CheckItem::Level::warn, "web server config", "no config files under " + w.config_root,
                            "set web_server.config_root in the inventory to the directory of apache2.conf", false});
    return;
  }
  for (auto& item : check_apache_config(parse_apache_config(files), w)) out.push_back(std::move(item));
}

}  // namespace mitigd
