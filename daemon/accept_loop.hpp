#pragma once
// The accept loop both of the daemon's servers use. It never ends on an error: out of descriptors
// (EMFILE/ENFILE) or any transient failure, it pauses briefly (so a flood cannot spin the loop) and
// accepts again. Past `max_clients` connections at once, a new one is closed at once.
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>

namespace mitigd {

// serve(socket) takes a connection; clients() says how many are being served now.
template <class Acceptor, class Serve>
void accept_forever(Acceptor& acceptor, boost::asio::steady_timer& pause, int max_clients, std::function<int()> clients,
                    Serve serve) {
  acceptor.async_accept([&acceptor, &pause, max_clients, clients, serve](boost::system::error_code ec, auto socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      using namespace std::chrono_literals;
      pause.expires_after(ec == boost::asio::error::no_descriptors ? 200ms : 20ms);
      pause.async_wait([&acceptor, &pause, max_clients, clients, serve](auto e) {
        if (!e) accept_forever(acceptor, pause, max_clients, clients, serve);
      });
      return;
    }
    if (clients() >= max_clients) {
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      serve(std::move(socket));
    }
    accept_forever(acceptor, pause, max_clients, clients, serve);
  });
}

}  // namespace mitigd
