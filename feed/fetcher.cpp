#include "feed/fetcher.hpp"

#include "policies/json_input.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>

#include <cctype>
#include <ctime>
#include <filesystem>

namespace mitigd::feed {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::optional<long long> parse_http_date(const std::string& text) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<long long>(::timegm(&tm));
}

Result<ParsedUrl> parse_url(const std::string& url) {
  ParsedUrl u;
  auto colon = url.find("://");
  if (colon == std::string::npos) return make_error(Errc::invalid_input, "URL \"" + url + "\": expected scheme://host/path");
  u.scheme = url.substr(0, colon);
  for (auto& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto rest = url.substr(colon + 3);
  if (u.scheme == "file") {
    u.target = rest;
    return u;
  }
  if (u.scheme != "http" && u.scheme != "https") {
    return make_error(Errc::invalid_input, "URL \"" + url + "\": scheme must be http, https or file");
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    return make_error(Errc::invalid_input, "URL \"" + url + "\": credentials in URLs are not supported");
  }
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return make_error(Errc::invalid_input, "URL \"" + url + "\": unclosed [");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = authority.substr(close + 2);
  } else {
    auto c = authority.rfind(':');
    u.host = authority.substr(0, c);
    if (c != std::string::npos) u.port = authority.substr(c + 1);
  }
  if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
  if (u.host.empty() || u.port.find_first_not_of("0123456789") != std::string::npos) {
    return make_error(Errc::invalid_input, "URL \"" + url + "\": bad host or port");
  }
  for (char c : u.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return make_error(Errc::invalid_input, "URL \"" + url + "\": control character or space in the path");
    }
  }
  return u;
}

namespace {

class FileFetcher : public Fetcher {
 public:
  Result<FetchResponse> fetch(const FetchRequest& request) override {
    auto url = parse_url(request.url);
    if (!url) return url.error();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(url->target, ec)) {
      return make_error(Errc::not_found, request.url + ": no such file in the mirror");
    }
    auto body = json_input::read_file_capped(url->target, request.max_bytes);
    if (!body) return body.error();
    FetchResponse r;
    r.body = std::move(*body);
    return r;
  }
};

struct Outcome {
  std::optional<Error> error;
  FetchResponse response;
};

class HttpFetcher : public Fetcher {
 public:
  explicit HttpFetcher(HttpOptions options) : options_(std::move(options)) {}

  Result<FetchResponse> fetch(const FetchRequest& request) override {
    auto url = parse_url(request.url);
    if (!url) return url.error();
    std::optional<ParsedUrl> proxy;
    if (!options_.proxy.empty()) {
      auto p = parse_url(options_.proxy);
      if (!p) return p.error();
      if (p->scheme != "http") return make_error(Errc::invalid_input, "proxy " + options_.proxy + ": only http:// proxies");
      proxy = *p;
    }
    asio::io_context ioc;
    Outcome out;
    auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    asio::co_spawn(ioc, run(ioc, *url, proxy, request, deadline, out), asio::detached);
    ioc.run();
    if (out.error) return *out.error;
    return std::move(out.response);
  }

 private:
  template <class Stream>
  asio::awaitable<void> exchange(Stream& stream, const ParsedUrl& url, const std::optional<ParsedUrl>& proxy,
                                 const FetchRequest& request, Outcome& out) {
    bool absolute = proxy && url.scheme == "http";
    std::string host_header = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    if (!(url.port == "80" && url.scheme == "http") && !(url.port == "443" && url.scheme == "https")) {
      host_header += ":" + url.port;
    }
    http::request<http::empty_body> req{http::verb::get,
                                        absolute ? url.scheme + "://" + host_header + url.target : url.target, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, options_.user_agent);
    req.set(http::field::accept_encoding, "identity");
    if (request.if_none_match) req.set(http::field::if_none_match, *request.if_none_match);
    if (request.if_modified_since) req.set(http::field::if_modified_since, *request.if_modified_since);
    co_await http::async_write(stream, req, asio::use_awaitable);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(request.max_bytes);
    parser.header_limit(16 * 1024);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (ec == http::error::body_limit) {
      out.error = make_error(Errc::invalid_input, request.url + ": response is larger than the limit of " +
                                                      std::to_string(request.max_bytes) + " bytes");
      co_return;
    }
    if (ec) throw boost::system::system_error(ec);
    auto& res = parser.get();
    int status = static_cast<int>(res.result_int());
    if (status == 404 || status == 410) {
      out.error = make_error(Errc::not_found, request.url + ": HTTP " + std::to_string(status));
    } else if (status == 304) {
      out.response.not_modified = true;
    } else if (status == 200) {
      out.response.body = std::move(res.body());
      out.response.etag = std::string(res[http::field::etag]);
      out.response.last_modified = std::string(res[http::field::last_modified]);
      out.response.date = std::string(res[http::field::date]);
    } else {
      out.error = make_error(Errc::unavailable, request.url + ": HTTP " + std::to_string(status));
    }
  }

  asio::awaitable<void> run(asio::io_context& ioc, ParsedUrl url, std::optional<ParsedUrl> proxy,
                            FetchRequest request, std::chrono::steady_clock::time_point deadline, Outcome& out) {
    try {
      beast::tcp_stream tcp(ioc);
      tcp.expires_at(deadline);  // one deadline for every step: a slow feed cannot hold us
      tcp::resolver resolver(ioc);
      const auto& peer = proxy ? *proxy : url;
      auto endpoints = co_await resolver.async_resolve(peer.host, peer.port, asio::use_awaitable);
      co_await tcp.async_connect(endpoints, asio::use_awaitable);
      if (url.scheme == "http") {
        co_await exchange(tcp, url, proxy, request, out);
        co_return;
      }
      if (proxy) {  // a tunnel through the proxy, then TLS end to end
        http::request<http::empty_body> connect{http::verb::connect, url.host + ":" + url.port, 11};
        connect.set(http::field::host, url.host + ":" + url.port);
        connect.set(http::field::user_agent, options_.user_agent);
        co_await http::async_write(tcp, connect, asio::use_awaitable);
        beast::flat_buffer buf;
        http::response_parser<http::empty_body> p;
        p.skip(true);  // a CONNECT answer has no body
        co_await http::async_read_header(tcp, buf, p, asio::use_awaitable);
        if (p.get().result_int() != 200) {
          out.error = make_error(Errc::unavailable, "proxy " + options_.proxy + " refused CONNECT to " + url.host +
                                                        ": HTTP " + std::to_string(p.get().result_int()));
          co_return;
        }
      }
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1);
      if (options_.ca_file.empty()) ctx.set_default_verify_paths();
      else ctx.load_verify_file(options_.ca_file);
      ctx.set_verify_mode(asio::ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp), ctx);
      tls.set_verify_callback(asio::ssl::host_name_verification(url.host));
      if (!SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str())) {
        out.error = make_error(Errc::unavailable, request.url + ": cannot set TLS server name");
        co_return;
      }
      co_await tls.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      co_await exchange(tls, url, proxy, request, out);
    } catch (const boost::system::system_error& e) {
      if (e.code() == beast::error::timeout) {
        out.error = make_error(Errc::timeout, request.url + ": no complete answer within " +
                                                  std::to_string(options_.timeout.count()) + " ms");
      } else {
        out.error = make_error(Errc::unavailable, request.url + ": " + e.code().message());
      }
    } catch (const std::exception& e) {
      out.error = make_error(Errc::unavailable, request.url + ": " + e.what());
    }
  }

  HttpOptions options_;
};

class SchemeFetcher : public Fetcher {
 public:
  explicit SchemeFetcher(HttpOptions options) : http_(std::move(options)) {}
  Result<FetchResponse> fetch(const FetchRequest& request) override {
    if (request.url.rfind("file:", 0) == 0) return file_.fetch(request);
    return http_.fetch(request);
  }

 private:
  FileFetcher file_;
  HttpFetcher http_;
};

}  // namespace

std::unique_ptr<Fetcher> make_fetcher(const HttpOptions& options) { return std::make_unique<SchemeFetcher>(options); }

}  // namespace mitigd::feed
