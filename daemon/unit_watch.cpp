#include "daemon/unit_watch.hpp"

#include "reconcilers/systemd_driver.hpp"

#include <systemd/sd-bus.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace mitigd {
namespace asio = boost::asio;

UnitWatch::UnitWatch(asio::io_context& io, std::function<void()> on_change)
    : fd_(io), debounce_(io), on_change_(std::move(on_change)) {}

int UnitWatch::on_signal(sd_bus_message*, void* self, sd_bus_error*) {
  static_cast<UnitWatch*>(self)->changed_ = true;
  return 0;
}

std::shared_ptr<sd_bus> UnitWatch::connect(const std::string& bus_address, const std::vector<std::string>& units,
                                           std::string& error) {
  auto opened = open_systemd_bus(bus_address);
  if (!opened) {
    error = opened.error().message + ": unit changes are seen by the drift timer";
    return {};
  }
  sd_bus* bus = *opened;
  std::shared_ptr<sd_bus> owned(bus, [](sd_bus* b) { sd_bus_flush_close_unref(b); });
  sd_bus_error err = SD_BUS_ERROR_NULL;
  int r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                             "org.freedesktop.systemd1.Manager", "Subscribe", &err, nullptr, "");
  sd_bus_error_free(&err);
  for (const auto& unit : units) {
    char* path = nullptr;
    if (r >= 0) r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit.c_str(), &path);
    if (r >= 0) {
      r = sd_bus_match_signal(bus, nullptr, "org.freedesktop.systemd1", path, "org.freedesktop.DBus.Properties",
                              "PropertiesChanged", on_signal, this);
    }
    std::free(path);
  }
  if (r >= 0) {
    r = sd_bus_match_signal(bus, nullptr, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                            "org.freedesktop.systemd1.Manager", "UnitFilesChanged", on_signal, this);
  }
  if (r < 0) {
    error = std::string("cannot watch systemd units over D-Bus (") + std::strerror(-r) +
            "): unit changes are seen by the drift timer";
    return {};
  }
  return owned;
}

void UnitWatch::attach(std::shared_ptr<sd_bus> bus) {
  boost::system::error_code ignored;
  fd_.close(ignored);
  bus_ = std::move(bus);
  if (!bus_) return;
  fd_.assign(::dup(sd_bus_get_fd(bus_.get())));
  process();
}

void UnitWatch::close() {
  boost::system::error_code ignored;
  debounce_.cancel();
  fd_.close(ignored);
  bus_.reset();
}

void UnitWatch::process() {
  if (!bus_) return;
  while (sd_bus_process(bus_.get(), nullptr) > 0) {
  }
  if (changed_) {
    changed_ = false;
    // A stop or a mask emits a burst of signals: reconcile once after it.
    debounce_.expires_after(std::chrono::milliseconds(100));
    debounce_.async_wait([this](auto e) {
      if (!e) on_change_();
    });
  }
  fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](auto ec) {
    if (!ec) process();
  });
}

}  // namespace mitigd
