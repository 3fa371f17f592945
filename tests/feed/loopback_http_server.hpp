#pragma once
// A small HTTP/1.1 file server on 127.0.0.1 for feed tests: serves a directory, answers 404 for
// missing files, honours If-None-Match (ETag = sha256 of the file), and can misbehave on chosen
// paths the way TUF's endless-data and slow-retrieval attacks do. Stops when destroyed.
#include "feed/tuf_keys.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mitigd::testing {

class LoopbackHttpServer {
 public:
  enum class Behaviour { normal, endless, slow };

  explicit LoopbackHttpServer(std::filesystem::path root) : root_(std::move(root)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0) {
      throw std::runtime_error("test server: cannot listen on 127.0.0.1");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~LoopbackHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(port_) + "/" + path; }
  void set_behaviour(const std::string& path, Behaviour b) {
    std::lock_guard lock(mutex_);
    behaviour_[path] = b;
  }
  int requests(const std::string& path) {
    std::lock_guard lock(mutex_);
    return counts_[path];
  }
  int not_modified() const { return not_modified_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }

  static bool send_all(int c, std::string_view s) {
    while (!s.empty()) {
      auto n = ::send(c, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void serve(int c) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      auto n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<std::size_t>(n));
    }
    std::istringstream in(req);
    std::string method, target;
    in >> method >> target;
    std::string path = target.substr(1);
    std::string if_none_match;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("If-None-Match: ", 0) == 0) if_none_match = line.substr(15, line.find('\r') - 15);
    }
    Behaviour b = Behaviour::normal;
    {
      std::lock_guard lock(mutex_);
      ++counts_[path];
      if (auto it = behaviour_.find(path); it != behaviour_.end()) b = it->second;
    }
    if (b == Behaviour::endless) {  // no length, no end: only the client's cap stops it
      send_all(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
      std::string chunk(64 * 1024, '{');
      while (!stop_ && send_all(c, chunk)) {
      }
      return;
    }
    if (b == Behaviour::slow) {  // one byte every 200 ms
      send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n");
      for (int i = 0; i < 1000 && !stop_; ++i) {
        if (!send_all(c, "{")) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      return;
    }
    std::error_code ec;
    auto file = root_ / path;
    if (path.find("..") != std::string::npos || !std::filesystem::is_regular_file(file, ec)) {
      send_all(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    std::ifstream f(file, std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::string etag = "\"" + feed::sha256_hex(body) + "\"";
    if (if_none_match == etag) {
      ++not_modified_;
      send_all(c, "HTTP/1.1 304 Not Modified\r\nETag: " + etag + "\r\nConnection: close\r\n\r\n");
      return;
    }
    send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nETag: " + etag +
                    "\r\nConnection: close\r\n\r\n" + body);
  }

  std::filesystem::path root_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> not_modified_{0};
  std::mutex mutex_;
  std::map<std::string, Behaviour> behaviour_;
  std::map<std::string, int> counts_;
  std::thread thread_;
};

}  // namespace mitigd::testing
