#pragma once
// Prometheus metrics over HTTP on a loopback address, with Boost.Beast: GET /metrics (or /).
// A local user must not be able to take it down: at most kMaxClients connections at once (more are
// closed at once), a 5 s deadline per connection, 8 KiB of request header, no body, and an accept
// loop that survives errors (pausing briefly when descriptors run out).
#include "daemon/logger.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>

namespace mitigd {

class MetricsServer {
 public:
  static constexpr int kMaxClients = 32;
  MetricsServer(boost::asio::io_context& io, std::function<std::string()> render);
  // `listen` is ADDRESS:PORT; the address must be loopback. Throws otherwise.
  void start(const std::string& listen);
  void close();

 private:
  void accept();
  void serve(boost::asio::ip::tcp::socket socket);
  boost::asio::io_context& io_;
  std::function<std::string()> render_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  boost::asio::steady_timer pause_;
  std::shared_ptr<int> clients_ = std::make_shared<int>(0);
};

}  // namespace mitigd
