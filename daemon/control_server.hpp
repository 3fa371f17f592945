#pragma once
// The control socket (a Unix socket, mode 0660, group control_group): "status" for anyone who can
// connect, "reconcile" and "retry" for root and the control group. Hardened against local users:
// at most kMaxClients at once, a deadline on every read, a bounded request line, and an accept
// loop that survives errors (pausing briefly when descriptors run out).
#include "daemon/control_protocol.hpp"
#include "daemon/logger.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace mitigd {

class ControlServer {
 public:
  using Reply = std::function<void(const boost::json::object&)>;
  struct Handlers {
    std::function<boost::json::object()> status;
    // "reconcile" or "retry" from a permitted peer; reply after the run that serves it.
    std::function<void(const ControlRequest&, Reply)> change;
  };
  static constexpr int kMaxClients = 64;

  ControlServer(boost::asio::io_context& io, Logger& log, Handlers handlers);
  // Listens on `path`; throws on a socket that cannot be created.
  void start(const std::string& path, const std::string& group);
  void close();

 private:
  struct Client;
  void accept();
  void serve(std::shared_ptr<Client> client);
  void answer(std::shared_ptr<Client> client, const ControlRequest& request);
  bool may_change(int fd) const;
  boost::asio::io_context& io_;
  Logger& log_;
  Handlers handlers_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  boost::asio::steady_timer pause_;
  std::optional<unsigned> gid_;
  std::string path_;
  int clients_ = 0;
};

}  // namespace mitigd
