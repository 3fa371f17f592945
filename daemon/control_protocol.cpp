#include "daemon/control_protocol.hpp"

#include "policies/json_duplicates.hpp"

#include <boost/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace mitigd {
namespace json = boost::json;

Result<ControlRequest> parse_control_request(const std::string& line) {
  if (line.size() > kMaxControlLine) return make_error(Errc::invalid_input, "request too long");
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) return make_error(Errc::invalid_input, "expected one JSON object per line");
  if (json_input::find_duplicate_key(line)) return make_error(Errc::invalid_input, "a key appears twice in the request");
  const json::object& o = v.as_object();
  const json::value* c = o.if_contains("command");
  const char* expected = "command: expected \"reconcile\", \"status\" or \"retry\"";
  if (!c || !c->is_string()) return make_error(Errc::invalid_input, expected);
  ControlRequest r;
  r.command = std::string(c->as_string());
  if (r.command != "reconcile" && r.command != "status" && r.command != "retry") {
    return make_error(Errc::invalid_input, std::string(expected) + ", got \"" + r.command + "\"");
  }
  for (const auto& kv : o) {
    if (kv.key() == "command") continue;
    if (kv.key() != "ids" || r.command != "retry") return make_error(Errc::invalid_input, "unknown fields in the request");
    if (!kv.value().is_array() || kv.value().as_array().size() > 1000) {
      return make_error(Errc::invalid_input, "ids: expected a list of mitigation ids");
    }
    for (const auto& id : kv.value().as_array()) {
      if (!id.is_string() || id.as_string().size() > 64) return make_error(Errc::invalid_input, "ids: expected mitigation ids");
      r.ids.emplace_back(id.as_string());
    }
  }
  return r;
}

Result<json::value> control_request(const std::string& socket_path, const ControlRequest& request, int timeout_seconds) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(Errc::io, std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return make_error(Errc::invalid_input, socket_path + ": path too long for a Unix socket");
  }
  std::strcpy(addr.sun_path, socket_path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(e == EACCES ? Errc::permission_denied : Errc::unavailable,
                      socket_path + ": the daemon is not reachable: " + std::strerror(e));
  }
  json::object o{{"command", request.command}};
  if (request.command == "retry") {
    json::array ids;
    for (const auto& id : request.ids) ids.push_back(json::string(id));
    o["ids"] = std::move(ids);
  }
  std::string line = json::serialize(o) + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return make_error(Errc::io, socket_path + ": write failed");
  }
  std::string answer;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, timeout_seconds * 1000);
    if (n == 0) {
      ::close(fd);
      return make_error(Errc::timeout, socket_path + ": no answer within " + std::to_string(timeout_seconds) + " s");
    }
    if (n < 0 && errno == EINTR) continue;
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) break;
    answer.append(buf, static_cast<std::size_t>(got));
    if (answer.find('\n') != std::string::npos || answer.size() > (1 << 20)) break;
  }
  ::close(fd);
  boost::system::error_code ec;
  json::value v = json::parse(answer, ec);
  if (ec) return make_error(Errc::io, socket_path + ": unreadable answer from the daemon");
  return v;
}

bool peer_in_group(pid_t pid, gid_t gid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("Gid:")) {
      std::istringstream in(line.substr(4));
      gid_t g;
      while (in >> g) {
        if (g == gid) return true;
      }
    }
    if (line.starts_with("Groups:")) {
      std::istringstream in(line.substr(7));
      gid_t g;
      while (in >> g) {
        if (g == gid) return true;
      }
    }
  }
  return false;
}

}  // namespace mitigd
