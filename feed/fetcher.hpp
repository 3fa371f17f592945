#pragma once
// Getting bytes of the feed: over HTTP(S) (Boost.Beast, OpenSSL, optional HTTP proxy) or from a
// mirror directory (file:). Every fetch has a byte cap and a deadline, so an endless or a slow
// response is cut off (TUF's endless-data and slow-retrieval attacks); redirects are not followed.
#include "policies/error.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace mitigd::feed {

struct FetchRequest {
  std::string url;
  std::size_t max_bytes = 0;
  // Conditional request (used for timestamp.json): the validators of the last 200 answer.
  std::optional<std::string> if_none_match;
  std::optional<std::string> if_modified_since;
};

struct FetchResponse {
  bool not_modified = false;  // 304 to a conditional request
  std::string body;
  std::string etag, last_modified, date;
};

// Seconds since the epoch of an HTTP date ("Tue, 24 Nov 2026 19:28:21 GMT"); nullopt if malformed.
std::optional<long long> parse_http_date(const std::string& text);

// Errors: not_found for 404 or a missing mirror file (the root chain walk relies on it),
// invalid_input for a body over max_bytes, timeout past the deadline, unavailable otherwise.
class Fetcher {
 public:
  virtual ~Fetcher() = default;
  virtual Result<FetchResponse> fetch(const FetchRequest& request) = 0;
};

struct HttpOptions {
  std::chrono::milliseconds timeout{30000};  // whole request: connect, send, headers and body
  std::string proxy;     // "http://proxy:3128"; empty: direct
  std::string ca_file;   // PEM bundle for HTTPS; empty: the system's CAs
  std::string user_agent = "mitigd/0.1";
};

// Chooses by scheme: http:, https: or file:.
std::unique_ptr<Fetcher> make_fetcher(const HttpOptions& options);

struct ParsedUrl {
  std::string scheme, host, port, target;  // target: path and query, "/" at least
};
Result<ParsedUrl> parse_url(const std::string& url);

}  // namespace mitigd::feed
