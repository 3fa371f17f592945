// mitigctl setup nginx [--site FILE] [--dry-run]: connects an existing nginx to mitigd, the way a
// careful operator would by hand: the include dirs, the http-level include (a conf.d file), and
// the include line in the one server block that answers probe_url. Backs up what it edits (outside
// every included directory), validates, reloads, and puts the backup back when validation fails.
// Idempotent; refuses and explains when the target block is ambiguous.
#include "daemon/cli_common.hpp"
#include "daemon/wiring_apache.hpp"
#include "daemon/wiring_check.hpp"
#include "policies/atomic_file.hpp"
#include "policies/json_input.hpp"
#include "reconcilers/web_config_watch.hpp"

#include <filesystem>
#include <iostream>
#include <sstream>

namespace mitigd {
namespace fs = std::filesystem;

namespace {

// What setup writes carries these markers, so that --undo takes out exactly that and nothing else.
const std::string kServerMarker = "# mitigd: emergency mitigations (mitigctl setup)";
const std::string kHttpMarker = "# mitigd: maps of emergency mitigations (mitigctl setup)";

struct Edit {
  std::string file;     // the real file (symlinks resolved)
  std::string before, after;
  std::string summary;
};

std::string read_or_throw(const std::string& path) {
  auto text = json_input::read_file_capped(path, 4 * 1024 * 1024);
  if (!text) throw ErrorException(text.error());
  return *text;
}

// The one server block listening on the probe port (in --site FILE when given), with its line.
std::pair<std::string, std::size_t> target_block(const WebServer& w, const std::optional<std::string>& site) {
  auto parts = parse_loopback_url(w.probe_url);
  int port = parts ? parts->port : 80;
  std::vector<std::string> files = site ? std::vector<std::string>{fs::weakly_canonical(*site).string()} : web::view_config(w).files;
  std::vector<std::pair<std::string, std::size_t>> found;
  for (const auto& f : files) {
    for (const auto& b : nginx_server_blocks(f, read_or_throw(f))) {
      if (nginx_block_listens_on(b, port)) found.emplace_back(f, b.line);
    }
  }
  if (found.size() != 1) {
    std::string list;
    for (const auto& [f, l] : found) list += "\n  " + f + ":" + std::to_string(l);
    throw ErrorException(make_error(Errc::conflict, found.empty()
        ? "no server block listens on port " + std::to_string(port) + " (probe_url " + w.probe_url + ")" +
              (site ? " in " + *site : "") + ": give the site file with --site, or fix probe_url"
        : "several server blocks listen on port " + std::to_string(port) + "; choose one with --site FILE:" + list));
  }
  return found.front();
}

// Inserts `line` after line number `after_line` (1-based) of text, indented like a directive.
std::string insert_after(const std::string& text, std::size_t after_line, const std::string& line) {
  std::size_t pos = 0;
  for (std::size_t n = 1; n < after_line && pos != std::string::npos; ++n) pos = text.find('\n', pos) + 1;
  std::size_t eol = text.find('\n', pos);
  if (eol == std::string::npos) return text + "\n" + line + "\n";
  return text.substr(0, eol + 1) + line + "\n" + text.substr(eol + 1);
}

std::vector<Edit> planned_edits(const WebServer& w, const std::optional<std::string>& site) {
  std::vector<Edit> edits;
  auto [file, line] = target_block(w, site);
  std::string text = read_or_throw(file);
  bool has = false;
  for (const auto& b : nginx_server_blocks(file, text)) {
    if (b.line != line) continue;
    for (const auto& inc : b.includes) has = has || fs::path(inc).parent_path().lexically_normal() == fs::path(w.server_include_dir).lexically_normal();
  }
  if (!has) {
    std::string directive = "    include " + w.server_include_dir + "/*.conf;  " + kServerMarker;
    edits.push_back({file, text, insert_after(text, line, directive), "added `include " + w.server_include_dir + "/*.conf;` to the server block at " + file + ":" + std::to_string(line)});
  }
  return edits;
}

// Apache: the one <VirtualHost> answering probe_url's port (in --site FILE when given) gets the
// include as its first line, under a marker comment line (Apache has no trailing comments).
std::vector<Edit> planned_apache_edits(const WebServer& w, const std::optional<std::string>& site) {
  auto all = apache_enabled_files(w);
  ApacheConfig whole = parse_apache_config(all);
  if (!apache_loads_rewrite(whole)) {
    throw ErrorException(make_error(Errc::conflict, "mod_rewrite is not enabled: run `a2enmod rewrite`, then setup again"));
  }
  std::string wanted = site ? fs::weakly_canonical(*site).string() : std::string();
  auto parts = parse_loopback_url(w.probe_url);
  int port = parts ? parts->port : 80;
  std::vector<const ApacheVhost*> found;
  for (const auto& v : whole.vhosts) {
    if (apache_vhost_on_port(v, port) && (wanted.empty() || v.file == wanted)) found.push_back(&v);
  }
  if (found.size() != 1) {
    std::string list;
    for (const auto* v : found) list += "\n  " + v->file + ":" + std::to_string(v->line);
    throw ErrorException(make_error(Errc::conflict, found.empty()
        ? "no <VirtualHost> answers port " + std::to_string(port) + " (probe_url " + w.probe_url + ")" +
              (site ? " in " + *site : "") + ": give the site file with --site, or fix probe_url"
        : "several <VirtualHost> answer port " + std::to_string(port) + "; choose one with --site FILE (each that serves a "
          "protected site needs the include):" + list));
  }
  const ApacheVhost& v = *found.front();
  bool included = false;
  for (const auto& d : v.directives) {  // what setup will not decide for the operator
    const std::string at = d.file + ":" + std::to_string(d.line);
    if (apache_engine_off(d)) {
      throw ErrorException(make_error(Errc::conflict, "`RewriteEngine Off` at " + at + " would switch mitigd's rules off: remove it, then setup again"));
    }
    if (d.name == "rewriterule" && !included && std::any_of(v.directives.begin(), v.directives.end(), [&](const ApacheDirective& x) {
          return apache_includes_dir(x, w.server_include_dir);
        })) {
      throw ErrorException(make_error(Errc::conflict, "the RewriteRule at " + at + " comes before mitigd's include: move the include up, "
                                                      "to the first line of the <VirtualHost>"));
    }
    included = included || apache_includes_dir(d, w.server_include_dir);
  }
  if (included) return {};
  std::string text = read_or_throw(v.file);
  std::string lines = "\t" + kServerMarker + "\n\tIncludeOptional " + w.server_include_dir + "/*.conf";
  return {{v.file, text, insert_after(text, v.line, lines),
           "added `IncludeOptional " + w.server_include_dir + "/*.conf` first in the <VirtualHost> at " + v.file + ":" +
               std::to_string(v.line)}};
}

// Every line setup added (it ends with the marker), taken out of each file of the config tree, and
// the conf.d file it wrote: the operator's files become byte-identical to before setup.
std::vector<Edit> undo_edits(const WebServer& w) {
  std::vector<Edit> edits;
  for (const auto& file : web::view_config(w).files) {
    std::string text = read_or_throw(file), kept;
    if (text.starts_with(kHttpMarker + "\n")) {
      edits.push_back({file, text, "", "removed " + file + " (the http-level include)"});
      continue;
    }
    std::istringstream in(text);
    std::string line;
    bool changed = false;
    bool skip_next = false;
    while (std::getline(in, line)) {
      if (skip_next && line.find("Include") != std::string::npos && line.find(w.server_include_dir) != std::string::npos) {
        skip_next = false;
        continue;  // Apache's include, under its marker line
      }
      skip_next = false;
      if (line.ends_with(kServerMarker)) {
        changed = true;
        skip_next = line.find_first_not_of(" \t") == line.find(kServerMarker);  // a marker line of its own
        continue;
      }
      kept += line + (in.eof() ? "" : "\n");
    }
    if (changed) edits.push_back({file, text, kept, "removed mitigd's include line from " + file});
  }
  return edits;
}

// Rule files still in the include dirs: taking the includes away would switch them off silently.
void refuse_while_rules_in_force(const WebServer& w) {
  for (const auto& dir : {w.server_include_dir, w.http_include_dir}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".conf") {
        throw ErrorException(make_error(Errc::conflict, entry.path().string() + " is in force: revert the web mitigations "
                                                        "first (mitigctl revert-all --web), then undo the setup"));
      }
    }
  }
}

// Writes the edits, validates, and puts everything back when validation fails; then reloads.
std::vector<std::string> write_validate_reload(const WebServer& w, const std::vector<Edit>& edits) {
  std::vector<std::string> done;
  for (const auto& e : edits) {
    auto r = e.after.empty() && !e.before.empty() ? remove_file_in_dir(e.file) : write_file_atomically(e.file, e.after, 0644);
    if (!r) throw ErrorException(r.error());
    done.push_back(e.summary);
  }
  ProcessRunner runner;
  auto check = runner.run(w.validate, std::chrono::seconds(30));
  if (!check || check->exit_code != 0) {
    for (const auto& e : edits) {
      if (e.before.empty()) (void)remove_file_in_dir(e.file);
      else (void)write_file_atomically(e.file, e.before, 0644);
    }
    throw ErrorException(make_error(Errc::validation_failed, "the edited config does not validate; every edit was put back: " +
                                                                 (check ? check->output : check.error().message)));
  }
  auto reload = runner.run(w.reload, std::chrono::seconds(30));
  done.push_back(reload && reload->exit_code == 0 ? "validated and reloaded the web server"
                                                     : "validated; the reload failed (is the web server running?)");
  return done;
}

int undo_setup(const WebServer& w, bool dry) {
  std::vector<Edit> edits = undo_edits(w);
  if (edits.empty()) {
    std::cout << "nothing of mitigctl setup is left in " << w.config_root << "\n";
    return 0;
  }
  for (const auto& e : edits) std::cout << (dry ? "would have " : "") << e.summary << "\n";
  if (dry) return 0;
  refuse_while_rules_in_force(w);
  for (const auto& d : write_validate_reload(w, edits)) {
    if (!d.starts_with("removed")) std::cout << d << "\n";
  }
  return 0;
}

}  // namespace

int cmd_setup(Cli& cli, const Args& args) {
  const std::string kind = args.positional().size() == 1 ? args.positional()[0] : "";
  if (kind != "nginx" && kind != "apache") throw UsageError("setup nginx|apache [--site FILE] [--dry-run] [--undo]");
  Config config = cli.config();
  auto inv = load_inventory(config.inventory);
  if (!inv) throw ErrorException(inv.error());
  bool dry = args.flag("--dry-run");
  if (args.flag("--undo")) {  // whatever the kind: what setup added carries its markers
    if (inv->web_server) return undo_setup(*inv->web_server, dry);
    std::cout << "no web server in " << config.inventory << ": nothing to undo\n";
    return 0;
  }
  if (!inv->web_server || to_string(inv->web_server->kind) != kind) {
    throw ErrorException(make_error(Errc::invalid_input, config.inventory + ": web_server: expected " +
                                                             (kind == "nginx" ? "an nginx" : "an Apache") + " server to set up"));
  }
  const WebServer& w = *inv->web_server;
  std::vector<Edit> edits = kind == "nginx" ? planned_edits(w, args.value("--site"))
                                            : planned_apache_edits(w, args.value("--site"));  // refuses before anything changes
  std::vector<std::string> done;
  for (const auto& dir : {w.server_include_dir, w.http_include_dir}) {
    if (dir.empty() || fs::is_directory(dir)) continue;
    if (!dry) fs::create_directories(dir);
    done.push_back("created " + dir);
  }
  // The http-level include, as a conf.d file (Debian's nginx.conf includes conf.d/*.conf in http).
  bool http_ok = false;
  ProcessRunner no_runner;
  HttpProber no_prober;
  for (const auto& item : check_wiring(config, no_runner, no_prober, CheckOptions{false})) {
    if (item.name == "http include") http_ok = item.level == CheckItem::Level::ok;
  }
  if (kind == "nginx" && !http_ok && !w.http_include_dir.empty()) {
    std::string confd = w.config_root + "/conf.d/mitigd.conf";
    if (!fs::is_directory(w.config_root + "/conf.d")) {
      throw ErrorException(make_error(Errc::conflict, "no conf.d directory in " + w.config_root + ": add `include " +
                                                          w.http_include_dir + "/*.conf;` inside the http block yourself"));
    }
    edits.push_back({confd, "", kHttpMarker + "\ninclude " + w.http_include_dir + "/*.conf;\n",
                     "wrote " + confd + " (the http-level include)"});
  }
  if (edits.empty() && done.empty()) {
    std::cout << kind << " is already set up for mitigd: nothing to do (mitigctl check shows the whole wiring)\n";
    return 0;
  }
  if (dry) {
    for (const auto& d : done) std::cout << "would have " << d << "\n";
    for (const auto& e : edits) std::cout << "would have " << e.summary << "\n--- " << e.file << "\n+++ " << e.file << "\n" << e.after << "\n";
    return 0;
  }
  std::string backups = fs::path(config.state_db).parent_path().string() + "/backups";
  fs::create_directories(backups);
  for (const auto& e : edits) {
    if (!e.before.empty()) {
      std::string backup = backups + "/" + fs::path(e.file).filename().string() + "." + format_utc(now_seconds());
      if (auto r = write_file_atomically(backup, e.before, 0600); !r) throw ErrorException(r.error());
      done.push_back("backed up " + e.file + " to " + backup);
    }
  }
  for (const auto& d : write_validate_reload(w, edits)) done.push_back(d);
  for (const auto& d : done) std::cout << d << "\n";
  return 0;
}

}  // namespace mitigd
