#pragma once
// The server's own inventory: binds the logical names used by manifests (product, service, app
// pool, virtual directory) to the real things on this host. Format: docs/formats.md.
#include "policies/error.hpp"
#include "policies/version.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mitigd {

struct VersionSource {
  enum class Kind { file, command, deb_package } kind = Kind::file;
  std::string file;                  // kind file: the version is the file's first line
  std::vector<std::string> command;  // kind command: argv; the version is the first line of stdout
  std::string package;               // kind deb_package
  std::string dpkg_status = "/var/lib/dpkg/status";
  std::string describe() const;
};

struct Product {
  std::string name;
  VersionScheme scheme = VersionScheme::dotted;
  VersionSource source;
};

enum class WebServerKind { nginx, apache };
const char* to_string(WebServerKind kind);

// How nginx evaluates request rules: `config`, plain directives (one `if` per condition, needs
// set-misc for decoding); `module`, mitigd's nginx module (mitigd_rule directives, a literal
// prefilter so that 100 rules cost a benign request about one pass over each input).
enum class RulesEngine { config, module };

struct WebServer {
  WebServerKind kind = WebServerKind::nginx;
  std::string http_include_dir;    // nginx: included in the http block (maps); apache: server config
  std::string server_include_dir;  // nginx: included in the server block
  std::vector<std::string> validate;  // argv, e.g. nginx -t -c ...
  std::vector<std::string> reload;    // argv
  std::string probe_url;              // loopback URL of the listener, http://127.0.0.1:8080
  RulesEngine rules_engine = RulesEngine::config;
  // The directory holding the server's own config (/etc/nginx): its changes are watched and
  // retry what waits for a broken config to be fixed.
  std::string config_root;
};

struct VirtualDirectory {
  std::string name;
  std::string prefix;
  std::string app_pool;  // may be empty
};

struct Inventory {
  std::string file;
  std::string host;
  std::map<std::string, Product> products;
  std::optional<WebServer> web_server;
  std::map<std::string, std::string> services;   // logical name -> systemd unit
  std::map<std::string, std::string> app_pools;  // logical name -> systemd unit
  std::map<std::string, VirtualDirectory> vdirs;
  std::string systemd_bus;  // empty: the system bus; or an sd-bus address "unix:path=..."
};

// Relative paths in the file are resolved against the inventory file's directory.
Result<Inventory> parse_inventory(const std::string& file, std::string_view text);
Result<Inventory> load_inventory(const std::string& file);

}  // namespace mitigd
