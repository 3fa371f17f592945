#pragma once
// Real servers for integration tests, all on loopback, all children of the test process and
// stopped by it: the Exchange-like upstream app, a private nginx, a private Apache.
#include "reconcilers/prober.hpp"

#include <string>
#include <vector>

namespace mitigd::testing {

int free_port();
std::string make_temp_dir(const std::string& tag);

class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(const std::vector<std::string>& argv);
  ChildProcess(ChildProcess&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ~ChildProcess();
  void stop();
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
};

// Waits until something accepts connections on 127.0.0.1:port.
bool wait_for_port(int port, int timeout_ms = 10000);

class UpstreamApp {
 public:
  UpstreamApp();
  int port() const { return port_; }

 private:
  int port_;
  ChildProcess process_;
};

class PrivateNginx {
 public:
  // with_set_misc=false builds a server without the set-misc module: decoded rules cannot load.
  explicit PrivateNginx(int upstream_port, bool with_set_misc = true);
  ~PrivateNginx();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& prefix() const { return prefix_; }
  std::string http_dir() const { return prefix_ + "/mitigd/http"; }
  std::string server_dir() const { return prefix_ + "/mitigd/server"; }
  std::vector<std::string> validate_command() const;
  std::vector<std::string> reload_command() const;

 private:
  std::string prefix_;
  int port_;
  ChildProcess process_;
};

class PrivateApache {
 public:
  explicit PrivateApache(int upstream_port);
  ~PrivateApache();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string server_dir() const { return root_ + "/mitigd"; }
  std::vector<std::string> validate_command() const;
  std::vector<std::string> reload_command() const;

 private:
  std::string root_;
  int port_;
  ChildProcess process_;
};

// One request over a fresh loopback connection.
ProbeResponse request(const std::string& url, const std::string& method, const std::string& target,
                      std::vector<std::pair<std::string, std::string>> headers = {});
bool reached_app(const ProbeResponse& r);
std::string header_value(const ProbeResponse& r, const std::string& name);

}  // namespace mitigd::testing
