#pragma once
// mitigd: keeps the server converged. One Asio event loop owns every trigger; reconciles run one at
// a time on a worker thread and post their result back to the loop, so nothing blocks it.
// Triggers name no change (level-based): any of them asks for one more full reconcile, and
// triggers that arrive while one runs coalesce into a single next run.
#include "daemon/config.hpp"

#include <string>

namespace mitigd {

struct DaemonOptions {
  std::string config_file;
  bool once = false;  // reconcile once and exit (for scripts)
};

// Runs until SIGTERM/SIGINT (finishing the current reconcile). Returns the exit code.
int run_daemon(const DaemonOptions& options);

}  // namespace mitigd
