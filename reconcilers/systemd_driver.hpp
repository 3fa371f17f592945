#pragma once
// systemd over D-Bus (sd-bus), not by shelling out to systemctl: unit state, stop/start as jobs
// whose completion is awaited (JobRemoved), mask/unmask (runtime or persistent) followed by a
// manager reload. Errors name the unit and say what went wrong: a unit that does not exist
// (not_found), access denied (permission_denied), a job that failed or timed out.
#include "policies/error.hpp"

#include <chrono>
#include <memory>
#include <string>

typedef struct sd_bus sd_bus;  // <systemd/sd-bus.h>

namespace mitigd {

struct UnitState {
  std::string load_state;       // loaded, not-found, masked...
  std::string active_state;     // active, inactive, failed, activating...
  std::string sub_state;        // running, dead...
  std::string unit_file_state;  // enabled, disabled, static, masked, masked-runtime...
  bool running() const { return active_state == "active" || active_state == "activating" || active_state == "reloading"; }
  bool masked() const { return unit_file_state == "masked" || unit_file_state == "masked-runtime"; }
};

class SystemdDriver {
 public:
  virtual ~SystemdDriver() = default;
  virtual Result<UnitState> state(const std::string& unit) = 0;
  virtual Result<void> stop(const std::string& unit) = 0;
  virtual Result<void> start(const std::string& unit) = 0;
  virtual Result<void> mask(const std::string& unit, bool runtime) = 0;
  virtual Result<void> unmask(const std::string& unit, bool runtime) = 0;
};

// address: "" for the system bus, or an sd-bus address ("unix:path=/run/dbus/system_bus_socket").
std::unique_ptr<SystemdDriver> make_sdbus_systemd(const std::string& address,
                                                  std::chrono::milliseconds job_timeout = std::chrono::seconds(90));

// A connected bus: the system bus when address is empty, else that sd-bus address. The caller
// owns it (sd_bus_flush_close_unref). Errors say which bus and why.
Result<sd_bus*> open_systemd_bus(const std::string& address);

// Unit names as systemd accepts them: [A-Za-z0-9:_.\-@], a known suffix, at most 255 bytes.
bool is_valid_unit_name(const std::string& unit);

}  // namespace mitigd
