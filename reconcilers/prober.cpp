#include "reconcilers/prober.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mitigd {

Result<UrlParts> parse_loopback_url(const std::string& url) {
  if (!url.starts_with("http://")) return make_error(Errc::invalid_input, url + ": expected an http:// URL");
  std::string rest = url.substr(7);
  rest = rest.substr(0, rest.find('/'));
  UrlParts parts;
  std::size_t colon = rest.rfind(':');
  parts.host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    try {
      parts.port = std::stoi(rest.substr(colon + 1));
    } catch (...) {
      return make_error(Errc::invalid_input, url + ": bad port");
    }
  }
  if (parts.host == "localhost") parts.host = "127.0.0.1";
  in_addr addr{};
  if (inet_pton(AF_INET, parts.host.c_str(), &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) {
    return make_error(Errc::invalid_input, url + ": probes go to a loopback address (127.x.x.x) only");
  }
  return parts;
}

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool wait_for(int fd, short events, std::chrono::steady_clock::time_point end) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

// Reads into `in` until `done(in)` or the peer closes; false when the deadline passes first.
template <typename Done>
bool read_until(int fd, std::string& in, std::chrono::steady_clock::time_point end, Done done) {
  char buf[8192];
  while (!done(in)) {
    if (!wait_for(fd, POLLIN, end)) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;  // closed or reset
    in.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

bool has_head(const std::string& in) { return in.find("\r\n\r\n") != std::string::npos || in.size() >= 65536; }

}  // namespace

Result<ProbeResponse> HttpProber::send(const std::string& base_url, const HttpRequest& request) {
  auto url = parse_loopback_url(base_url);
  if (!url) return url.error();
  auto end = std::chrono::steady_clock::now() + deadline_;
  Fd sock{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (sock.fd < 0) return make_error(Errc::io, std::string("socket: ") + std::strerror(errno));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(url->port));
  inet_pton(AF_INET, url->host.c_str(), &sa.sin_addr);
  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    return make_error(Errc::unavailable, base_url + ": connect: " + std::strerror(errno));
  }
  if (!wait_for(sock.fd, POLLOUT, end)) return make_error(Errc::timeout, base_url + ": connect timed out");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return make_error(Errc::unavailable, base_url + ": connect: " + std::strerror(err));

  std::string wire = request.method + " " + request.target + " HTTP/1.1\r\n";
  bool has_host = false, framed = false;
  for (const auto& [name, value] : request.headers) {
    if (strcasecmp(name.c_str(), "host") == 0) has_host = true;
    // A request that frames its own body (chunked, or a length it states) is sent as written.
    if (strcasecmp(name.c_str(), "transfer-encoding") == 0 || strcasecmp(name.c_str(), "content-length") == 0) framed = true;
    wire += name + ": " + value + "\r\n";
  }
  if (!has_host) wire += "Host: localhost\r\n";
  if (!framed && (!request.body.empty() || request.method == "POST" || request.method == "PUT")) {
    wire += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  wire += "Connection: close\r\n\r\n" + request.body;
  std::size_t sent = 0;
  while (sent < wire.size()) {
    if (!wait_for(sock.fd, POLLOUT, end)) return make_error(Errc::timeout, base_url + ": send timed out");
    ssize_t n = ::send(sock.fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      ProbeResponse r;
      r.dropped = true;
      return r;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string in;
  if (!read_until(sock.fd, in, end, has_head)) return make_error(Errc::timeout, base_url + ": no response in time");
  // Interim answers (100 Continue to a request with Expect) come before the final one: skipped.
  while (in.starts_with("HTTP/1.") && in.size() >= 12 && in[9] == '1' && in.find("\r\n\r\n") != std::string::npos) {
    in.erase(0, in.find("\r\n\r\n") + 4);
    if (!read_until(sock.fd, in, end, has_head)) return make_error(Errc::timeout, base_url + ": no final response in time");
  }
  ProbeResponse r;
  if (!in.starts_with("HTTP/1.") || in.size() < 12) {
    r.dropped = true;
    return r;
  }
  r.status = std::atoi(in.substr(9, 3).c_str());
  std::size_t head_end = in.find("\r\n\r\n");
  r.headers = in.substr(0, head_end);
  if (max_body_ == 0 || head_end == std::string::npos) return r;
  r.body = in.substr(head_end + 4);
  // Connection: close: the body ends when the server closes.
  if (!read_until(sock.fd, r.body, end, [this](const std::string& b) { return b.size() >= max_body_; })) {
    return make_error(Errc::timeout, base_url + ": response body not complete in time");
  }
  if (r.body.size() > max_body_) r.body.resize(max_body_);
  return r;
}

}  // namespace mitigd
