#include "daemon/wiring_check.hpp"
#include "daemon/wiring_apache.hpp"

#include "policies/inventory.hpp"
#include "policies/json_input.hpp"
#include "policies/policy.hpp"
#include "reconcilers/systemd_driver.hpp"
#include "reconcilers/web_config_watch.hpp"
#include "reconcilers/web_rules.hpp"

#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <filesystem>

namespace mitigd {
namespace fs = std::filesystem;

const char* to_string(CheckItem::Level level) {
  switch (level) {
    case CheckItem::Level::ok: return "ok";
    case CheckItem::Level::warn: return "warn";
    case CheckItem::Level::fail: return "FAIL";
  }
  return "?";
}

namespace {

// nginx config text as tokens: words (quotes removed), "{", "}", ";", with the line of each.
struct Token {
  std::string text;
  std::size_t line;
};

std::vector<Token> nginx_tokens(const std::string& text) {
  std::vector<Token> out;
  std::size_t line = 1;
  std::string word;
  std::size_t word_line = 1;
  auto flush = [&] {
    if (!word.empty()) out.push_back({word, word_line});
    word.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') ++line;
    if (c == '#') {
      flush();
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      if (word.empty()) word_line = line;
      for (++i; i < text.size() && text[i] != c; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        if (text[i] == '\n') ++line;
        word += text[i];
      }
    } else if (c == '{' || c == '}' || c == ';') {
      flush();
      out.push_back({std::string(1, c), line});
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else {
      if (word.empty()) word_line = line;
      word += c;
    }
  }
  flush();
  return out;
}

int port_of_listen(const std::string& arg) {
  if (arg.starts_with("unix:")) return -1;
  std::string p = arg;
  auto colon = p.rfind(':');
  if (colon != std::string::npos && p.find(']', colon) == std::string::npos) p = p.substr(colon + 1);
  else if (p.find_first_not_of("0123456789") != std::string::npos) return 80;  // an address alone
  try {
    return std::stoi(p);
  } catch (...) {
    return -1;
  }
}

int port_of_url(const std::string& url) {
  auto parts = parse_loopback_url(url);
  return parts ? parts->port : 80;
}

std::vector<std::pair<std::string, std::string>> config_files(const WebServer& server) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& path : web::view_config(server).files) {
    if (auto text = json_input::read_file_capped(path, 4 * 1024 * 1024)) out.emplace_back(path, std::move(*text));
  }
  return out;
}

bool include_names(const std::string& arg, const std::string& dir, const std::string& file_dir, const std::string& root) {
  auto norm = [](const fs::path& p) { return p.lexically_normal().string(); };
  std::string want = norm(dir);
  for (const std::string& base : {std::string(), file_dir, root}) {
    std::string resolved = fs::path(arg).is_absolute() || base.empty() ? arg : (fs::path(base) / arg).string();
    std::string parent = norm(fs::path(resolved).parent_path());
    if (parent == want || norm(resolved) == want) return true;
  }
  return false;
}

CheckItem item(CheckItem::Level level, std::string name, std::string detail, std::string fix = {}, bool blocking = false) {
  return CheckItem{level, std::move(name), std::move(detail), std::move(fix), blocking};
}

// A directory only root (or this user) may write: anything else could plant files or links there.
std::string unsafe_ownership(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return {};
  if (st.st_uid != 0 && st.st_uid != ::getuid()) return "owned by uid " + std::to_string(st.st_uid);
  if (st.st_mode & 0022) return "writable by its group or by others (mode " + [&] {
    char m[8];
    std::snprintf(m, sizeof m, "%04o", st.st_mode & 07777);
    return std::string(m);
  }() + ")";
  return {};
}

void check_include_dirs(const WebServer& w, std::vector<CheckItem>& out) {
  for (const auto& dir : {w.server_include_dir, w.http_include_dir}) {
    if (dir.empty()) continue;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      out.push_back(item(CheckItem::Level::fail, "include dir " + dir, "missing",
                         "mkdir -p " + dir + "   (or: mitigctl setup " + to_string(w.kind) + ")", true));
    } else if (auto bad = unsafe_ownership(dir); !bad.empty()) {
      out.push_back(item(CheckItem::Level::fail, "include dir " + dir, bad, "chown root:root " + dir + " && chmod 0755 " + dir, true));
    } else {
      out.push_back(item(CheckItem::Level::ok, "include dir " + dir, "present, writable by root only"));
    }
  }
}

void check_nginx_wiring(const WebServer& w, std::vector<CheckItem>& out) {
  auto files = config_files(w);
  int port = port_of_url(w.probe_url);
  bool server_include = false, http_include = false, module = false, set_misc = false, jit = false;
  std::string candidate;  // a server block listening on the port, without the include
  for (const auto& [path, text] : files) {
    for (const auto& block : nginx_server_blocks(path, text)) {
      bool listens = nginx_block_listens_on(block, port);
      bool includes = false;
      for (const auto& inc : block.includes) includes = includes || include_names(inc, w.server_include_dir, fs::path(path).parent_path(), w.config_root);
      if (listens && includes) server_include = true;
      if (listens && !includes && candidate.empty()) candidate = path + ":" + std::to_string(block.line);
    }
    auto tokens = nginx_tokens(text);
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      if (tokens[i].text == "include" && include_names(tokens[i + 1].text, w.http_include_dir, fs::path(path).parent_path(), w.config_root)) http_include = true;
      if (tokens[i].text == "load_module" && tokens[i + 1].text.find("ngx_http_mitigd_module") != std::string::npos) module = true;
      if (tokens[i].text == "load_module" && tokens[i + 1].text.find("ngx_http_set_misc_module") != std::string::npos) set_misc = true;
      if (tokens[i].text == "pcre_jit" && tokens[i + 1].text == "on") jit = true;
    }
  }
  if (files.empty()) {
    out.push_back(item(CheckItem::Level::warn, "web server config", "no config files under " + w.config_root,
                       "set web_server.config_root in the inventory to the directory of nginx.conf"));
    return;
  }
  if (server_include) {
    out.push_back(item(CheckItem::Level::ok, "server block include", "the server block on port " + std::to_string(port) + " includes " + w.server_include_dir));
  } else {
    out.push_back(item(CheckItem::Level::fail, "server block include",
                       "no server block listening on port " + std::to_string(port) + " (probe_url) includes " + w.server_include_dir,
                       "add `include " + w.server_include_dir + "/*.conf;` inside the server block" +
                           (candidate.empty() ? std::string(" that answers ") + w.probe_url : " at " + candidate) +
                           " (or: mitigctl setup nginx --site FILE)",
                       true));
  }
  if (!w.http_include_dir.empty()) {
    out.push_back(http_include ? item(CheckItem::Level::ok, "http include", "the http block includes " + w.http_include_dir)
                               : item(CheckItem::Level::fail, "http include", "nothing includes " + w.http_include_dir,
                                      "add `include " + w.http_include_dir + "/*.conf;` inside the http block (for example in " +
                                          w.config_root + "/conf.d/mitigd.conf)",
                                      true));
  }
  if (w.rules_engine == RulesEngine::module) {
    out.push_back(module ? item(CheckItem::Level::ok, "nginx module", "ngx_http_mitigd_module is loaded")
                         : item(CheckItem::Level::fail, "nginx module", "rules_engine is \"module\" but nothing loads ngx_http_mitigd_module",
                                "ln -s /usr/share/nginx/modules-available/mod-http-mitigd.conf " + w.config_root +
                                    "/modules-enabled/50-mod-http-mitigd.conf, or set rules_engine to \"config\"",
                                true));
  } else {
    out.push_back(set_misc ? item(CheckItem::Level::ok, "set-misc module", "loaded (decoded rules work)")
                           : item(CheckItem::Level::warn, "set-misc module", "not loaded: rules with \"decode\": true cannot be applied",
                                  "apt-get install libnginx-mod-http-set-misc, or rules_engine \"module\""));
  }
  if (!jit) {
    out.push_back(item(CheckItem::Level::warn, "pcre_jit", "off: regex rules cost about 7x more", "add `pcre_jit on;` at the top level of nginx.conf"));
  }
}

void check_commands(const WebServer& w, CommandRunner& runner, Prober& prober, std::vector<CheckItem>& out) {
  auto r = runner.run(w.validate, std::chrono::seconds(30));
  if (!r) out.push_back(item(CheckItem::Level::fail, "validate command", r.error().message, "fix web_server.validate in the inventory"));
  else if (r->exit_code != 0) out.push_back(item(CheckItem::Level::fail, "live config", "does not validate: " + r->output, "fix the web server's config first"));
  else out.push_back(item(CheckItem::Level::ok, "live config", "validates (" + w.validate[0] + ")"));
  std::error_code ec;
  if (!w.reload.empty() && w.reload[0].find('/') != std::string::npos && !fs::exists(w.reload[0], ec)) {
    out.push_back(item(CheckItem::Level::fail, "reload command", w.reload[0] + " does not exist", "fix web_server.reload in the inventory"));
  }
  auto probe = prober.send(w.probe_url, HttpRequest{"GET", "/", {}});
  out.push_back(probe ? item(CheckItem::Level::ok, "probe_url", w.probe_url + " answers")
                      : item(CheckItem::Level::fail, "probe_url", w.probe_url + ": " + probe.error().message,
                             "probe_url must be the loopback listener of the protected site"));
}

}  // namespace

bool nginx_block_listens_on(const NginxServerBlock& block, int port) {
  if (block.listens.empty()) return port == 80;  // nginx's default listen
  for (const auto& l : block.listens) {
    if (port_of_listen(l) == port) return true;
  }
  return false;
}

std::vector<NginxServerBlock> nginx_server_blocks(const std::string& file, const std::string& text) {
  std::vector<NginxServerBlock> out;
  auto tokens = nginx_tokens(text);
  std::vector<std::string> stack;  // block names
  std::vector<std::size_t> server_index;  // index in out of the enclosing server block, per level
  std::vector<Token> statement;
  for (const auto& t : tokens) {
    if (t.text == "{") {
      std::string name = statement.empty() ? "" : statement.front().text;
      stack.push_back(name);
      if (name == "server" && statement.size() == 1) {
        out.push_back({file, t.line, {}, {}});
        server_index.push_back(out.size() - 1);
      } else {
        server_index.push_back(server_index.empty() ? std::size_t(-1) : server_index.back());
      }
      statement.clear();
    } else if (t.text == "}") {
      if (!stack.empty()) stack.pop_back();
      if (!server_index.empty()) server_index.pop_back();
      statement.clear();
    } else if (t.text == ";") {
      if (!server_index.empty() && server_index.back() != std::size_t(-1) && statement.size() >= 2) {
        auto& block = out[server_index.back()];
        if (statement[0].text == "listen") block.listens.push_back(statement[1].text);
        if (statement[0].text == "include") block.includes.push_back(statement[1].text);
      }
      statement.clear();
    } else {
      statement.push_back(t);
    }
  }
  return out;
}

std::vector<CheckItem> blocking_problems(const Config& config) {
  std::vector<CheckItem> out;
  auto inv = load_inventory(config.inventory);
  if (!inv || !inv->web_server) return out;
  check_include_dirs(*inv->web_server, out);
  if (inv->web_server->kind == WebServerKind::nginx) check_nginx_wiring(*inv->web_server, out);
  else check_apache_wiring(*inv->web_server, out);
  std::vector<CheckItem> blocking;
  for (auto& i : out) {
    if (i.blocking && i.level == CheckItem::Level::fail) blocking.push_back(std::move(i));
  }
  return blocking;
}

std::vector<CheckItem> check_wiring(const Config& config, CommandRunner& runner, Prober& prober, const CheckOptions& options) {
  std::vector<CheckItem> out;
  out.push_back(item(CheckItem::Level::ok, "config", config.file + " is valid"));
  auto inv = load_inventory(config.inventory);
  if (!inv) {
    out.push_back(item(CheckItem::Level::fail, "inventory", inv.error().message, "fix " + config.inventory));
    return out;
  }
  out.push_back(item(CheckItem::Level::ok, "inventory", config.inventory + ": host " + inv->host));
  if (auto policy = load_policy_dir(config.policy_dir, inv->host); !policy) {
    out.push_back(item(CheckItem::Level::fail, "policy", policy.error().message, "fix the file it names"));
  } else {
    for (const auto& w : policy->warnings) out.push_back(item(CheckItem::Level::warn, "policy", w, "rename the file or fix the inventory's host"));
    if (policy->warnings.empty()) out.push_back(item(CheckItem::Level::ok, "policy", config.policy_dir + " is valid"));
  }
  std::error_code ec;
  std::string state_dir = fs::path(config.state_db).parent_path().string();
  if (auto bad = unsafe_ownership(state_dir); !bad.empty()) {
    out.push_back(item(CheckItem::Level::fail, "state dir " + state_dir, bad, "chown root:root " + state_dir + " && chmod 0700 " + state_dir));
  }
  if (config.feed) {
    bool root = fs::exists(config.feed->trusted_root, ec);
    out.push_back(root ? item(CheckItem::Level::ok, "feed trusted root", config.feed->trusted_root)
                       : item(CheckItem::Level::fail, "feed trusted root", config.feed->trusted_root + " is missing",
                              "copy the feed's root.json there (provisioned out of band)"));
  }
  if (inv->web_server) {
    check_include_dirs(*inv->web_server, out);
    if (inv->web_server->kind == WebServerKind::nginx) check_nginx_wiring(*inv->web_server, out);
    else check_apache_wiring(*inv->web_server, out);
    if (options.run_commands) check_commands(*inv->web_server, runner, prober, out);
  }
  if (!inv->services.empty() || !inv->app_pools.empty()) {
    auto bus = open_systemd_bus(inv->systemd_bus);
    if (bus) sd_bus_flush_close_unref(*bus);
    out.push_back(bus ? item(CheckItem::Level::ok, "systemd", "the bus answers")
                      : item(CheckItem::Level::fail, "systemd", bus.error().message, "service and app pool mitigations need D-Bus"));
  }
  return out;
}

}  // namespace mitigd
