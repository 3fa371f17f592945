#pragma once
// The web server's own configuration as mitigd watches it: the directories to watch for an
// operator's edit (a fixed site file must retry what waited for it at once) and a fingerprint that
// changes whenever a file there changes. mitigd's own include dirs are left out: its writes are not
// an operator's change.
#include "policies/inventory.hpp"

#include <string>
#include <vector>

namespace mitigd::web {

struct ConfigView {
  std::vector<std::string> dirs;  // sorted; the config root, its subdirectories, symlink targets' dirs
  std::vector<std::string> files;  // every config file (symlinks resolved), sorted, each once
  std::string fingerprint;        // path, size and mtime of every file, in sorted order
};

// Walks server.config_root (4 levels, at most 4,000 entries; symlinked files and directories
// such as sites-enabled/default -> ../sites-available/default are followed one step).
ConfigView view_config(const WebServer& server);

}  // namespace mitigd::web
