#include "tests/integration/test_servers.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

namespace mitigd::testing {
namespace fs = std::filesystem;

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = "/tmp/mitigd-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  REQUIRE(::mkdtemp(buf.data()) != nullptr);
  return buf.data();
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) == 0);
  pid_ = pid;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  stop();
  pid_ = o.pid_;
  o.pid_ = -1;
  return *this;
}

ChildProcess::~ChildProcess() { stop(); }

void ChildProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool wait_for_port(int port, int timeout_ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

UpstreamApp::UpstreamApp() : port_(free_port()) {
  process_ = ChildProcess({"python3", std::string(MITIGD_SOURCE_DIR) + "/tests/integration/upstream_app.py",
                           std::to_string(port_)});
  REQUIRE(wait_for_port(port_));
}

PrivateNginx::PrivateNginx(int upstream_port, bool with_set_misc) : prefix_(make_temp_dir("nginx")), port_(free_port()) {
  for (const char* d : {"conf", "logs", "tmp", "mitigd/http", "mitigd/server"}) fs::create_directories(prefix_ + "/" + d);
  std::ofstream conf(prefix_ + "/conf/nginx.conf");
  if (with_set_misc) {
    conf << "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
            "load_module /usr/lib/nginx/modules/ngx_http_set_misc_module.so;\n";
  }
  // mitigd's module is inert without mitigd_rule directives; loaded so either engine can be used.
  if (fs::exists(MITIGD_NGINX_MODULE_SO)) conf << "load_module " << MITIGD_NGINX_MODULE_SO << ";\n";
  conf << "pid " << prefix_ << "/nginx.pid;\n"
       << "worker_processes 1;\npcre_jit on;\nerror_log " << prefix_ << "/logs/error.log;\n"
       << "events { worker_connections 512; }\n"
       << "http {\n  access_log off;\n"
       << "  client_body_temp_path " << prefix_ << "/tmp/body;\n  proxy_temp_path " << prefix_ << "/tmp/proxy;\n"
       << "  fastcgi_temp_path " << prefix_ << "/tmp/fcgi;\n  uwsgi_temp_path " << prefix_ << "/tmp/uwsgi;\n"
       << "  scgi_temp_path " << prefix_ << "/tmp/scgi;\n"
       << "  include " << prefix_ << "/mitigd/http/*.conf;\n"
       << "  upstream app { server 127.0.0.1:" << upstream_port << "; keepalive 8; }\n"
       << "  server {\n    listen 127.0.0.1:" << port_ << ";\n"
       << "    include " << prefix_ << "/mitigd/server/*.conf;\n"
       << "    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }\n"
       << "  }\n}\n";
  conf.close();
  process_ = ChildProcess({"nginx", "-p", prefix_, "-c", "conf/nginx.conf", "-e", "logs/error.log", "-g", "daemon off;"});
  REQUIRE(wait_for_port(port_));
}

PrivateNginx::~PrivateNginx() {
  process_.stop();
  std::error_code ec;
  fs::remove_all(prefix_, ec);
}

std::vector<std::string> PrivateNginx::validate_command() const {
  return {"nginx", "-p", prefix_, "-c", "conf/nginx.conf", "-e", "logs/error.log", "-t", "-q"};
}

std::vector<std::string> PrivateNginx::reload_command() const {
  return {"nginx", "-p", prefix_, "-c", "conf/nginx.conf", "-e", "logs/error.log", "-s", "reload"};
}

PrivateApache::PrivateApache(int upstream_port) : root_(make_temp_dir("apache")), port_(free_port()) {
  fs::create_directories(root_ + "/mitigd");
  fs::create_directories(root_ + "/run");
  fs::create_directories(root_ + "/logs");
  std::ofstream conf(root_ + "/apache.conf");
  const std::string mods = "/usr/lib/apache2/modules/";
  for (const char* m : {"mpm_event", "authz_core", "rewrite", "proxy", "proxy_http", "headers"}) {
    conf << "LoadModule " << m << "_module " << mods << "mod_" << m << ".so\n";
  }
  conf << "ServerRoot " << root_ << "\nServerName localhost\nDefaultRuntimeDir " << root_ << "/run\n"
       << "PidFile " << root_ << "/run/httpd.pid\nMutex file:" << root_ << "/run default\n"
       << "ErrorLog " << root_ << "/logs/error.log\nLogLevel warn\n"
       << "Listen 127.0.0.1:" << port_ << "\n"
       << (::getuid() == 0 ? "User www-data\nGroup www-data\n" : "")
       << "<VirtualHost 127.0.0.1:" << port_ << ">\n"
       << "  IncludeOptional " << root_ << "/mitigd/*.conf\n"
       << "  ProxyPass / http://127.0.0.1:" << upstream_port << "/\n"
       << "</VirtualHost>\n";
  conf.close();
  process_ = ChildProcess({"apache2", "-d", root_, "-f", root_ + "/apache.conf", "-DFOREGROUND"});
  REQUIRE(wait_for_port(port_));
}

PrivateApache::~PrivateApache() {
  process_.stop();
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::vector<std::string> PrivateApache::validate_command() const {
  return {"apache2", "-d", root_, "-f", root_ + "/apache.conf", "-t"};
}

std::vector<std::string> PrivateApache::reload_command() const {
  return {"apache2", "-d", root_, "-f", root_ + "/apache.conf", "-k", "graceful"};
}

ProbeResponse request(const std::string& url, const std::string& method, const std::string& target,
                      std::vector<std::pair<std::string, std::string>> headers) {
  HttpProber prober;
  auto r = prober.send(url, HttpRequest{method, target, std::move(headers)});
  INFO(method << " " << target << ": " << (r ? "" : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

bool reached_app(const ProbeResponse& r) {
  return !r.dropped && r.status == 200 && r.headers.find("X-Upstream: app") != std::string::npos;
}

std::string header_value(const ProbeResponse& r, const std::string& name) {
  std::string lower_headers = r.headers;
  for (auto& c : lower_headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string key = "\r\n";
  for (char c : name) key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  key += ": ";
  auto at = lower_headers.find(key);
  if (at == std::string::npos) return {};
  auto start = at + key.size();
  return r.headers.substr(start, r.headers.find("\r\n", start) - start);
}

}  // namespace mitigd::testing
