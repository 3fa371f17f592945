#include "daemon/metrics_server.hpp"

#include "daemon/accept_loop.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace mitigd {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

MetricsServer::MetricsServer(asio::io_context& io, std::function<std::string()> render)
    : io_(io), render_(std::move(render)), pause_(io) {}

void MetricsServer::start(const std::string& listen) {
  if (listen.empty()) return;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("metrics_listen: expected ADDRESS:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto address = asio::ip::make_address(host);
  if (!address.is_loopback()) throw std::runtime_error("metrics_listen must be a loopback address");
  auto port = static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)));
  acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(io_, asio::ip::tcp::endpoint(address, port));
  accept();
}

void MetricsServer::close() {
  boost::system::error_code ignored;
  pause_.cancel();
  if (acceptor_) acceptor_->close(ignored);
}

void MetricsServer::accept() {
  accept_forever(*acceptor_, pause_, kMaxClients, [this] { return *clients_; },
                 [this](asio::ip::tcp::socket socket) { serve(std::move(socket)); });
}

namespace {

struct Session {
  explicit Session(asio::ip::tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer{8192};
  http::request_parser<http::empty_body> parser;
  http::response<http::string_body> response;
};

}  // namespace

void MetricsServer::serve(asio::ip::tcp::socket socket) {
  auto session = std::make_shared<Session>(std::move(socket));
  auto clients = clients_;
  ++*clients;
  session->parser.header_limit(8192);
  session->parser.body_limit(0);
  session->stream.expires_after(5s);
  http::async_read(session->stream, session->buffer, session->parser, [this, session, clients](beast::error_code ec, std::size_t) {
    if (ec) {
      --*clients;
      return;
    }
    const auto& req = session->parser.get();
    auto& res = session->response;
    res.version(req.version());
    res.keep_alive(false);
    std::string target(req.target());
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.body() = "only GET\n";
    } else if (target == "/metrics" || target == "/") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = req.method() == http::verb::head ? std::string() : render_();
    } else {
      res.result(http::status::not_found);
      res.body() = "not found\n";
    }
    res.prepare_payload();
    http::async_write(session->stream, res, [session, clients](beast::error_code, std::size_t) {
      --*clients;
      beast::error_code ignored;
      session->stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    });
  });
}

}  // namespace mitigd
