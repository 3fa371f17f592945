#pragma once
// Reads the installed version of each product from its source (file, command, Debian package).
#include "policies/desired.hpp"
#include "reconcilers/command_runner.hpp"

#include <map>
#include <string>

namespace mitigd {

InstalledVersion read_installed_version(const Product& product, CommandRunner& runner);
std::map<std::string, InstalledVersion> read_installed_versions(const Inventory& inventory, CommandRunner& runner);

// The Version of an installed package in a dpkg status file; nullopt when not installed.
std::optional<std::string> dpkg_installed_version(const std::string& status_text, const std::string& package);

}  // namespace mitigd
