// mitigd --config FILE [--once]
#include "daemon/daemon_service.hpp"

#include <cstring>
#include <iostream>
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>

int main(int argc, char** argv) {
  // A long-running daemon with two threads that allocate little: one malloc arena keeps the
  // idle footprint small (a second arena per thread holds freed pages for nothing).
  mallopt(M_ARENA_MAX, 1);
  // Descriptors: as many as we are allowed. Clients of the control socket and the metrics port are
  // capped (96 together), so the rest is the daemon's own reserve (inventory, nginx -t, D-Bus).
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 65536);
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  mitigd::DaemonOptions options;
  options.config_file = "/etc/mitigd/mitigd.json";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      options.config_file = argv[++i];
    } else if (a == "--once") {
      options.once = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << "usage: mitigd [--config FILE] [--once]\n\n"
                   "Keeps this server converged to its signed mitigations and policy: reconciles at startup, on\n"
                   "the feed poll and drift timers, on changes of the policy, inventory, manifests and the web\n"
                   "server's config (inotify), on unit changes (D-Bus) and on request (control socket).\n\n"
                   "  --config FILE   the config (default /etc/mitigd/mitigd.json)\n"
                   "  --once          reconcile once and exit: 0 when converged, 1 otherwise\n"
                   "  --version       print the version\n\n"
                   "Signals: SIGHUP reloads the config (validated first; refused keeps the running one),\n"
                   "SIGTERM/SIGINT stop after the current reconcile. Under systemd: Type=notify, watchdog.\n"
                   "Operate it with mitigctl (status, plan, apply, retry); see mitigctl --help.\n";
      return 0;
    } else if (a == "--version") {
      std::cout << "mitigd " MITIGD_VERSION "\n";
      return 0;
    } else {
      std::cerr << "mitigd: unknown argument " << a << "\n";
      return 1;
    }
  }
  try {
    return mitigd::run_daemon(options);
  } catch (const std::exception& e) {
    std::cerr << "mitigd: " << e.what() << "\n";
    return 1;
  }
}
