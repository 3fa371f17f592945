// mitigd --config FILE [--once]
#include "daemon/daemon_service.hpp"

#include <cstring>
#include <iostream>
#include <malloc.h>

int main(int argc, char** argv) {
  // A long-running daemon with two threads that allocate little: one malloc arena keeps the
  // idle footprint small (a second arena per thread holds freed pages for nothing).
  mallopt(M_ARENA_MAX, 1);
  mitigd::DaemonOptions options;
  options.config_file = "/etc/mitigd/mitigd.json";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      options.config_file = argv[++i];
    } else if (a == "--once") {
      options.once = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << "usage: mitigd [--config FILE] [--once]\n";
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
