#include "daemon/watch_set.hpp"

#include "reconcilers/web_config_watch.hpp"

#include <filesystem>
#include <set>

namespace mitigd {
namespace fs = std::filesystem;

WatchSet watch_set(const Config& config, const Inputs& inputs, const std::vector<state::LedgerRecord>& ledger) {
  std::set<std::string> dirs{config.policy_dir, config.policy_dir + "/servers",
                             fs::path(config.inventory).parent_path().string()};
  if (!config.manifests_dir.empty()) dirs.insert(config.manifests_dir);
  const Inventory& inv = inputs.inventory;
  for (const auto& [name, p] : inv.products) {
    if (p.source.kind == VersionSource::Kind::file) dirs.insert(fs::path(p.source.file).parent_path().string());
    if (p.source.kind == VersionSource::Kind::deb_package) dirs.insert(fs::path(p.source.dpkg_status).parent_path().string());
  }
  if (inv.web_server) {
    dirs.insert(inv.web_server->server_include_dir);
    if (!inv.web_server->http_include_dir.empty()) dirs.insert(inv.web_server->http_include_dir);
    for (auto& d : web::view_config(*inv.web_server).dirs) dirs.insert(std::move(d));
  }
  std::set<std::string> units;
  for (const auto& [name, unit] : inv.services) units.insert(unit);
  for (const auto& [name, unit] : inv.app_pools) units.insert(unit);
  for (const auto& row : ledger) {
    if (row.resource.starts_with("unit:")) units.insert(row.resource.substr(5));
  }
  return {{dirs.begin(), dirs.end()}, {units.begin(), units.end()}};
}

}  // namespace mitigd
