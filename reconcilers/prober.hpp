#pragma once
// Fires a probe request at the real listener over loopback and reports what came back.
#include "policies/error.hpp"
#include "policies/request_semantics.hpp"

#include <chrono>
#include <string>

namespace mitigd {

struct ProbeResponse {
  bool dropped = false;  // connection closed or reset without a response (nginx 444)
  int status = 0;
  std::string headers;  // raw header block, for response-header checks
  std::string body;     // read only by an HttpProber given a body limit (up to that many bytes)
};

class Prober {
 public:
  virtual ~Prober() = default;
  virtual Result<ProbeResponse> send(const std::string& base_url, const HttpRequest& request) = 0;
};

// HTTP/1.1 over a plain TCP socket, loopback only (the probe URL is refused otherwise), with a
// deadline on connect and on the whole exchange.
class HttpProber final : public Prober {
 public:
  explicit HttpProber(std::chrono::milliseconds deadline = std::chrono::milliseconds(3000), std::size_t max_body = 0)
      : deadline_(deadline), max_body_(max_body) {}
  Result<ProbeResponse> send(const std::string& base_url, const HttpRequest& request) override;

 private:
  std::chrono::milliseconds deadline_;
  std::size_t max_body_;  // 0: the body is not read
};

struct UrlParts {
  std::string host;
  int port = 80;
};
Result<UrlParts> parse_loopback_url(const std::string& url);

}  // namespace mitigd
