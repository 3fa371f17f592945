#pragma once
// `mitigctl check` for Apache: mitigd's rules run in each virtual host's server context, so the
// include must be in every <VirtualHost> that answers probe_url, before any RewriteRule (an [L] there
// ends the round before mitigd's rules run), with no later `RewriteEngine Off` (which switches every
// rule off while `apache2 -t` passes); an include in the main server alone does not reach a vhost.
#include "daemon/wiring_check.hpp"
#include "policies/inventory.hpp"

#include <string>
#include <vector>

namespace mitigd {

struct ApacheDirective {
  std::string file;
  std::size_t line = 0;
  std::string name;  // lower case
  std::vector<std::string> args;
};

// A <VirtualHost>: where it starts, its ports (-1: any), and its server-context directives in order
// (the contents of <Directory>, <Location>, <Files> and <If> are per-directory, run later, and left
// out; <IfModule>, <IfDefine>, <IfVersion> and <IfFile> are looked through).
struct ApacheVhost {
  std::string file;
  std::size_t line = 0;
  std::vector<int> ports;
  std::vector<ApacheDirective> directives;
};

struct ApacheConfig {
  std::vector<ApacheVhost> vhosts;
  std::vector<ApacheDirective> main;  // the main server's directives (outside every vhost)
};

// The enabled config files under web_server.config_root, read: a file in a *-available dir counts
// only through a link in the matching *-enabled dir (Debian's layout).
std::vector<std::pair<std::string, std::string>> apache_enabled_files(const WebServer& w);
bool apache_vhost_on_port(const ApacheVhost& v, int port);
bool apache_includes_dir(const ApacheDirective& d, const std::string& dir);
bool apache_loads_rewrite(const ApacheConfig& config);
bool apache_engine_off(const ApacheDirective& d);  // RewriteEngine Off (any case)

// Parses the config texts (path, text) in order.
ApacheConfig parse_apache_config(const std::vector<std::pair<std::string, std::string>>& files);

// The check items for the include placement, rewrite engine and mod_rewrite.
std::vector<CheckItem> check_apache_config(const ApacheConfig& config, const WebServer& w);

// Reads the enabled config files under web_server.config_root (sites-available files only through
// a link in sites-enabled) and checks them.
void check_apache_wiring(const WebServer& w, std::vector<CheckItem>& out);

}  // namespace mitigd
