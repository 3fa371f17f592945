#pragma once
// What the daemon watches for a set of inputs: the directory of every input file (policy, its
// servers/, inventory, manifests, version files), the web server's own config (an operator's fix)
// and mitigd's include dirs (drift), and the systemd units the inventory binds or the ledger holds.
#include "daemon/config.hpp"
#include "daemon/engine.hpp"

#include <string>
#include <vector>

namespace mitigd {

struct WatchSet {
  std::vector<std::string> dirs;   // sorted, unique
  std::vector<std::string> units;  // sorted, unique
};

WatchSet watch_set(const Config& config, const Inputs& inputs, const std::vector<state::LedgerRecord>& ledger);

}  // namespace mitigd
