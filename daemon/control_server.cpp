#include "daemon/control_server.hpp"

#include "daemon/accept_loop.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace mitigd {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

struct ControlServer::Client {
  Client(asio::local::stream_protocol::socket s, asio::io_context& io)
      : socket(std::move(s)), buffer(kMaxControlLine + 1), deadline(io) {}
  asio::local::stream_protocol::socket socket;
  asio::streambuf buffer;
  asio::steady_timer deadline;
};

ControlServer::ControlServer(asio::io_context& io, Logger& log, Handlers handlers)
    : io_(io), log_(log), handlers_(std::move(handlers)), pause_(io) {}

void ControlServer::start(const std::string& path, const std::string& group) {
  if (path.empty()) return;
  path_ = path;
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  fs::create_directories(dir);
  // Bound in a private directory (0700, ours), given its mode and group there, then renamed into
  // place: no moment when a path someone else could swap is chmod'ed or chown'ed by name.
  std::string scratch = (dir / ".control-XXXXXX").string();
  if (::mkdtemp(scratch.data()) == nullptr) throw std::runtime_error(scratch + ": cannot create: " + std::strerror(errno));
  std::string bound = scratch + "/sock";
  acceptor_ = std::make_unique<asio::local::stream_protocol::acceptor>(io_);
  asio::local::stream_protocol::endpoint ep(bound);
  acceptor_->open(ep.protocol());
  boost::system::error_code bind_error;
  acceptor_->bind(ep, bind_error);
  if (!bind_error) {
    ::chmod(bound.c_str(), 0660);
    if (!group.empty()) {
      if (struct group* g = ::getgrnam(group.c_str())) {
        gid_ = g->gr_gid;
        if (::chown(bound.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
          log_.log(LOG_WARNING, "cannot give the control socket to group " + group);
        }
      } else {
        log_.log(LOG_WARNING, "control_group " + group + " does not exist: only root may trigger changes");
      }
    }
    if (::rename(bound.c_str(), path.c_str()) != 0) bind_error = boost::system::error_code(errno, boost::system::system_category());
  }
  ::unlink(bound.c_str());
  ::rmdir(scratch.c_str());
  if (bind_error) throw boost::system::system_error(bind_error, path);
  acceptor_->listen();
  accept();
}

void ControlServer::close() {
  boost::system::error_code ignored;
  pause_.cancel();
  if (acceptor_) {
    acceptor_->close(ignored);
    ::unlink(path_.c_str());
  }
}

void ControlServer::accept() {
  accept_forever(*acceptor_, pause_, kMaxClients, [this] { return clients_; },
                 [this](asio::local::stream_protocol::socket socket) { serve(std::make_shared<Client>(std::move(socket), io_)); });
}

bool ControlServer::may_change(int fd) const {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  if (cred.uid == 0 || cred.uid == ::getuid()) return true;
  if (!gid_) return false;
  return peer_in_group(cred.pid, *gid_);
}

void ControlServer::serve(std::shared_ptr<Client> client) {
  ++clients_;
  client->deadline.expires_after(10s);
  client->deadline.async_wait([client](auto ec) {
    boost::system::error_code ignored;
    if (!ec) client->socket.close(ignored);  // no complete request in time
  });
  asio::async_read_until(client->socket, client->buffer, '\n', [this, client](auto ec, std::size_t) {
    client->deadline.cancel();
    if (ec) {
      --clients_;
      return;
    }
    std::istream in(&client->buffer);
    std::string line;
    std::getline(in, line);
    auto request = parse_control_request(line);
    if (!request) {
      --clients_;
      auto reply = std::make_shared<std::string>(json::serialize(json::object{{"ok", false}, {"error", request.error().message}}) + "\n");
      asio::async_write(client->socket, asio::buffer(*reply), [client, reply](auto, std::size_t) {});
      return;
    }
    answer(client, *request);
  });
}

void ControlServer::answer(std::shared_ptr<Client> client, const ControlRequest& request) {
  auto send = [this, client](const json::object& v) {
    --clients_;
    auto text = std::make_shared<std::string>(json::serialize(v) + "\n");
    asio::async_write(client->socket, asio::buffer(*text), [client, text](auto, std::size_t) {
      boost::system::error_code ignored;
      client->socket.shutdown(asio::socket_base::shutdown_both, ignored);
    });
  };
  if (request.command == "status") return send(handlers_.status());
  if (!may_change(client->socket.native_handle())) {
    return send(json::object{{"ok", false}, {"error", "permission denied: only root or the control group may trigger a reconcile"}});
  }
  handlers_.change(request, send);
}

}  // namespace mitigd
