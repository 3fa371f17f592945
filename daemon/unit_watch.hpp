#pragma once
// systemd units this server's mitigations touch, watched over D-Bus (PropertiesChanged of each
// unit, UnitFilesChanged for mask/unmask): a unit started by hand is repaired at once, not at the
// next drift timer. The connection is made on the worker thread (it blocks); only non-blocking
// processing happens on the event loop.
#include <systemd/sd-bus.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>


namespace mitigd {

class UnitWatch {
 public:
  UnitWatch(boost::asio::io_context& io, std::function<void()> on_change);
  // Worker thread: a listening connection for these units, or null with `error` set.
  std::shared_ptr<sd_bus> connect(const std::string& bus_address, const std::vector<std::string>& units, std::string& error);
  // Event loop: starts listening on `bus` (null stops).
  void attach(std::shared_ptr<sd_bus> bus);
  bool active() const { return static_cast<bool>(bus_); }
  void close();

 private:
  static int on_signal(sd_bus_message*, void* self, sd_bus_error*);
  void process();
  boost::asio::posix::stream_descriptor fd_;
  boost::asio::steady_timer debounce_;
  std::function<void()> on_change_;
  std::shared_ptr<sd_bus> bus_;
  bool changed_ = false;
};

}  // namespace mitigd
