// mitigd --config FILE [--once]
#include "daemon/daemon_service.hpp"

#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
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
