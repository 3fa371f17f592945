#include "reconcilers/systemd_driver.hpp"

#include <systemd/sd-bus.h>

#include <cerrno>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace mitigd {

bool is_valid_unit_name(const std::string& unit) {
  if (unit.empty() || unit.size() > 255) return false;
  for (char c : unit) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '.' || c == '-' || c == '@' || c == '\\')) {
      return false;
    }
  }
  for (const char* suffix : {".service", ".socket", ".timer", ".target", ".path", ".mount"}) {
    if (unit.size() > std::strlen(suffix) && unit.ends_with(suffix)) return true;
  }
  return false;
}

namespace {

constexpr const char* kDest = "org.freedesktop.systemd1";
constexpr const char* kPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";

struct BusError {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  ~BusError() { sd_bus_error_free(&e); }
};

struct Message {
  sd_bus_message* m = nullptr;
  ~Message() { sd_bus_message_unref(m); }
};

Error bus_error(const std::string& what, int r, const sd_bus_error& e) {
  std::string name = e.name ? e.name : "";
  std::string text = e.message ? e.message : std::strerror(-r);
  Errc code = Errc::unavailable;
  if (name == SD_BUS_ERROR_ACCESS_DENIED || name == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" ||
      r == -EACCES || r == -EPERM) {
    code = Errc::permission_denied;
    text = "access denied (" + text + "): mitigd needs root or a polkit rule for org.freedesktop.systemd1";
  } else if (name == "org.freedesktop.systemd1.NoSuchUnit") {
    code = Errc::not_found;
  }
  return make_error(code, what + ": " + text);
}

class SdBusSystemd final : public SystemdDriver {
 public:
  SdBusSystemd(std::string address, std::chrono::milliseconds job_timeout)
      : address_(std::move(address)), job_timeout_(job_timeout) {}
  ~SdBusSystemd() override { sd_bus_flush_close_unref(bus_); }

  Result<UnitState> state(const std::string& unit) override {
    if (!is_valid_unit_name(unit)) return make_error(Errc::invalid_input, "\"" + unit + "\" is not a systemd unit name");
    if (auto ok = connect(); !ok) return ok.error();
    // LoadUnit also answers for units not loaded yet; LoadState says whether they exist.
    BusError err;
    Message reply;
    int r = sd_bus_call_method(bus_, kDest, kPath, kManager, "LoadUnit", &err.e, &reply.m, "s", unit.c_str());
    if (r < 0) return bus_error("unit " + unit, r, err.e);
    const char* path = nullptr;
    if ((r = sd_bus_message_read(reply.m, "o", &path)) < 0) return bus_error("unit " + unit + ": reading LoadUnit", r, err.e);
    UnitState s;
    for (auto [prop, out] : {std::pair{"LoadState", &s.load_state}, std::pair{"ActiveState", &s.active_state},
                             std::pair{"SubState", &s.sub_state}, std::pair{"UnitFileState", &s.unit_file_state}}) {
      BusError perr;
      char* value = nullptr;
      r = sd_bus_get_property_string(bus_, kDest, path, "org.freedesktop.systemd1.Unit", prop, &perr.e, &value);
      if (r < 0) return bus_error("unit " + unit + ": property " + prop, r, perr.e);
      *out = value;
      std::free(value);
    }
    if (s.load_state == "not-found") return make_error(Errc::not_found, "unit " + unit + " does not exist on this host");
    return s;
  }

  Result<void> stop(const std::string& unit) override { return job("StopUnit", unit); }
  Result<void> start(const std::string& unit) override { return job("StartUnit", unit); }

  Result<void> mask(const std::string& unit, bool runtime) override {
    return unit_files("MaskUnitFiles", "mask " + unit, unit, runtime, true);
  }

  Result<void> unmask(const std::string& unit, bool runtime) override {
    return unit_files("UnmaskUnitFiles", "unmask " + unit, unit, runtime, std::nullopt);
  }

 private:
  Result<void> connect() {
    if (bus_) return {};
    auto bus = open_systemd_bus(address_);
    if (!bus) return bus.error();
    bus_ = *bus;
    // Job completion arrives as a JobRemoved signal, which systemd sends to subscribers.
    BusError err;
    int r = sd_bus_call_method(bus_, kDest, kPath, kManager, "Subscribe", &err.e, nullptr, "");
    if (r < 0) return bus_error("subscribing to systemd", r, err.e);
    return {};
  }

  // MaskUnitFiles(as files, b runtime, b force) / UnmaskUnitFiles(as files, b runtime), then a
  // manager reload so the change takes effect (as systemctl does).
  Result<void> unit_files(const char* method, const std::string& what, const std::string& unit, bool runtime,
                          std::optional<bool> force) {
    if (auto ok = connect(); !ok) return ok;
    BusError err;
    Message reply;
    Message call;
    std::array<char*, 2> files{const_cast<char*>(unit.c_str()), nullptr};
    int r = sd_bus_message_new_method_call(bus_, &call.m, kDest, kPath, kManager, method);
    if (r >= 0) r = sd_bus_message_append_strv(call.m, files.data());
    if (r >= 0) r = force ? sd_bus_message_append(call.m, "bb", runtime, *force) : sd_bus_message_append(call.m, "b", runtime);
    if (r >= 0) r = sd_bus_call(bus_, call.m, 0, &err.e, &reply.m);
    if (r < 0) return bus_error(what, r, err.e);
    return reload(what);
  }

  Result<void> reload(const std::string& what) {
    BusError err;
    int r = sd_bus_call_method(bus_, kDest, kPath, kManager, "Reload", &err.e, nullptr, "");
    if (r < 0) return bus_error(what + ": daemon reload", r, err.e);
    return {};
  }

  struct JobWait {
    std::string path;
    std::string result;
    bool done = false;
  };

  static int on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* w = static_cast<JobWait*>(userdata);
    uint32_t id = 0;
    const char *path = nullptr, *unit = nullptr, *result = nullptr;
    if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0) return 0;
    if (w->path == path) {
      w->result = result;
      w->done = true;
    }
    return 0;
  }

  Result<void> job(const char* method, const std::string& unit) {
    const std::string what = std::string(method == std::string("StopUnit") ? "stop " : "start ") + unit;
    if (!is_valid_unit_name(unit)) return make_error(Errc::invalid_input, "\"" + unit + "\" is not a systemd unit name");
    if (auto ok = connect(); !ok) return ok;
    JobWait wait;
    sd_bus_slot* slot = nullptr;
    int r = sd_bus_match_signal(bus_, &slot, kDest, kPath, kManager, "JobRemoved", on_job_removed, &wait);
    if (r < 0) return make_error(Errc::unavailable, what + ": cannot watch jobs: " + std::strerror(-r));
    struct SlotGuard {
      sd_bus_slot* s;
      ~SlotGuard() { sd_bus_slot_unref(s); }
    } guard{slot};
    BusError err;
    Message reply;
    r = sd_bus_call_method(bus_, kDest, kPath, kManager, method, &err.e, &reply.m, "ss", unit.c_str(), "replace");
    if (r < 0) return bus_error(what, r, err.e);
    const char* path = nullptr;
    if ((r = sd_bus_message_read(reply.m, "o", &path)) < 0) return make_error(Errc::unavailable, what + ": bad reply");
    // sd_bus_call queues whatever arrives before the reply without dispatching it, so a job that
    // finished at once still reaches the callback below, after its path is known.
    wait.path = path;
    auto deadline = std::chrono::steady_clock::now() + job_timeout_;
    while (!wait.done) {
      r = sd_bus_process(bus_, nullptr);
      if (r < 0) return make_error(Errc::unavailable, what + ": bus error while waiting: " + std::strerror(-r));
      if (r > 0) continue;
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return make_error(Errc::timeout, what + ": the job did not finish within " +
                                             std::to_string(job_timeout_.count()) + " ms");
      }
      r = sd_bus_wait(bus_, static_cast<uint64_t>(left.count()));
      if (r < 0) return make_error(Errc::unavailable, what + ": bus error while waiting: " + std::strerror(-r));
    }
    if (wait.result != "done") {
      return make_error(Errc::unavailable, what + ": the job ended with result \"" + wait.result + "\"");
    }
    return {};
  }

  std::string address_;
  std::chrono::milliseconds job_timeout_;
  sd_bus* bus_ = nullptr;
};

}  // namespace

Result<sd_bus*> open_systemd_bus(const std::string& address) {
  sd_bus* bus = nullptr;
  int r;
  if (address.empty()) {
    r = sd_bus_open_system(&bus);
  } else {
    r = sd_bus_new(&bus);
    if (r >= 0) r = sd_bus_set_address(bus, address.c_str());
    if (r >= 0) r = sd_bus_set_bus_client(bus, 1);
    if (r >= 0) r = sd_bus_start(bus);
  }
  if (r < 0) {
    sd_bus_unref(bus);
    return make_error(r == -EACCES ? Errc::permission_denied : Errc::environment,
                      "cannot connect to the systemd bus " + (address.empty() ? std::string("(system bus)") : address) +
                          ": " + std::strerror(-r));
  }
  return bus;
}

std::unique_ptr<SystemdDriver> make_sdbus_systemd(const std::string& address, std::chrono::milliseconds job_timeout) {
  return std::make_unique<SdBusSystemd>(address, job_timeout);
}

}  // namespace mitigd
