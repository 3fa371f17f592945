// A thin command-line front of the sd-bus systemd driver, for the real-systemd test to check its
// error paths as another user (access denied) and against units that fail or hang.
// usage: systemd_driver_tool ADDRESS state|stop|start|mask|unmask UNIT [JOB_TIMEOUT_MS]
#include "reconcilers/systemd_driver.hpp"

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: systemd_driver_tool ADDRESS state|stop|start|mask|unmask UNIT [JOB_TIMEOUT_MS]\n";
    return 2;
  }
  std::string verb = argv[2], unit = argv[3];
  auto timeout = std::chrono::milliseconds(argc > 4 ? std::stol(argv[4]) : 90000);
  auto driver = mitigd::make_sdbus_systemd(argv[1], timeout);
  mitigd::Result<void> r;
  if (verb == "state") {
    auto s = driver->state(unit);
    if (s) {
      std::cout << s->load_state << " " << s->active_state << " " << s->sub_state << " " << s->unit_file_state << "\n";
      return 0;
    }
    r = s.error();
  } else if (verb == "stop") {
    r = driver->stop(unit);
  } else if (verb == "start") {
    r = driver->start(unit);
  } else if (verb == "mask") {
    r = driver->mask(unit, true);
  } else if (verb == "unmask") {
    r = driver->unmask(unit, true);
  } else {
    std::cerr << "unknown verb " << verb << "\n";
    return 2;
  }
  if (!r) {
    std::cout << mitigd::to_string(r.error().code) << ": " << r.error().message << "\n";
    return 1;
  }
  std::cout << "ok\n";
  return 0;
}
