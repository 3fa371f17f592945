#include "reconcilers/installed_versions.hpp"

#include "policies/json_input.hpp"

#include <sstream>

namespace mitigd {
using namespace std::chrono_literals;

namespace {
std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  std::size_t start = line.find_first_not_of(" \t");
  return start == std::string::npos ? std::string() : line.substr(start);
}
}  // namespace

std::optional<std::string> dpkg_installed_version(const std::string& status_text, const std::string& package) {
  std::istringstream in(status_text);
  std::string line, name, status, version;
  auto finish = [&]() -> std::optional<std::string> {
    if (name == package && status.ends_with(" installed") && !version.empty()) return version;
    return std::nullopt;
  };
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (auto v = finish()) return v;
      name.clear();
      status.clear();
      version.clear();
      continue;
    }
    if (line.starts_with("Package: ")) name = first_line(line.substr(9));
    else if (line.starts_with("Status: ")) status = first_line(line.substr(8));
    else if (line.starts_with("Version: ")) version = first_line(line.substr(9));
  }
  return finish();
}

InstalledVersion read_installed_version(const Product& product, CommandRunner& runner) {
  InstalledVersion v;
  v.source = product.source.describe();
  switch (product.source.kind) {
    case VersionSource::Kind::file: {
      auto text = json_input::read_file_capped(product.source.file, 4096);
      if (!text) {
        if (text.error().code == Errc::not_found) return v;  // not installed
        v.error = text.error().message;
        return v;
      }
      v.version = first_line(*text);
      if (v.version->empty()) v.error = product.source.file + ": empty version file";
      return v;
    }
    case VersionSource::Kind::command: {
      auto r = runner.run(product.source.command, 10s);
      if (!r) {
        v.error = r.error().message;
      } else if (r->exit_code != 0) {
        v.error = product.source.command[0] + " exited with " + std::to_string(r->exit_code);
      } else {
        v.version = first_line(r->output);
      }
      return v;
    }
    case VersionSource::Kind::deb_package: {
      auto text = json_input::read_file_capped(product.source.dpkg_status, 256 * 1024 * 1024);
      if (!text) {
        v.error = text.error().message;
        return v;
      }
      v.version = dpkg_installed_version(*text, product.source.package);
      return v;
    }
  }
  return v;
}

std::map<std::string, InstalledVersion> read_installed_versions(const Inventory& inventory, CommandRunner& runner) {
  std::map<std::string, InstalledVersion> out;
  for (const auto& [name, product] : inventory.products) out[name] = read_installed_version(product, runner);
  return out;
}

}  // namespace mitigd
