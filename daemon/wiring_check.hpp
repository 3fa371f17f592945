#pragma once
// `mitigctl check`: the whole wiring of this server, each problem with its exact fix (in the manner
// of `flux check` and `brew doctor`). The blocking subset (what would make an apply fail halfway:
// missing include dirs, include lines missing from the server block behind probe_url) is also what
// `plan` and `apply` refuse on, with the same message.
#include "daemon/config.hpp"
#include "reconcilers/command_runner.hpp"
#include "reconcilers/prober.hpp"

#include <string>
#include <vector>

namespace mitigd {

struct CheckItem {
  enum class Level { ok, warn, fail } level = Level::ok;
  std::string name;
  std::string detail;    // what was found
  std::string fix;       // what to do, exactly (lines to add, file to edit, command to run)
  bool blocking = false;  // apply would fail halfway without it
};
const char* to_string(CheckItem::Level level);

struct CheckOptions {
  bool run_commands = true;  // run the validate command and probe the listener
};

std::vector<CheckItem> check_wiring(const Config& config, CommandRunner& runner, Prober& prober, const CheckOptions& options);

// Only the blocking problems, without running anything (for plan and apply).
std::vector<CheckItem> blocking_problems(const Config& config);

// The nginx server blocks in a config text: where each starts (line), what it listens on, and the
// include directives in it (nested blocks' included too).
struct NginxServerBlock {
  std::string file;
  std::size_t line = 0;
  std::vector<std::string> listens;   // the listen directives' first arguments
  std::vector<std::string> includes;  // include directives' arguments
};
std::vector<NginxServerBlock> nginx_server_blocks(const std::string& file, const std::string& text);
// Whether the block answers on `port` (its listen directives, or nginx's default of 80).
bool nginx_block_listens_on(const NginxServerBlock& block, int port);

}  // namespace mitigd
