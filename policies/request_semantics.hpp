#pragma once
// What each rule input means for one HTTP request, defined once and mirrored by the generated
// nginx config (docs/rules.md). The offline rule tester uses exactly these functions, so its
// verdicts are the server's verdicts.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mitigd {

// The inputs of rule conditions (docs/rules.md). Those after cookie_named have several values or
// need the rule core's request model: only the nginx module evaluates them.
enum class InputKind {
  request_uri, path, query, method, header, cookie, cookie_named,
  arg, args, arg_names, headers, header_names, path_raw_decoded,
  body, body_arg, body_args, body_arg_names, files
};
// Whether the input reads the request body (the module reads it only when such a rule can answer).
bool input_reads_body(InputKind kind);

struct RuleInput {
  InputKind kind = InputKind::request_uri;
  std::string name;  // for header:NAME, cookie:NAME, arg:NAME and body_arg:NAME, lower case
};

// Whether every web engine (plain nginx directives, Apache mod_rewrite) can evaluate the input.
bool input_on_every_engine(InputKind kind);

std::string to_string(const RuleInput& input);

struct HttpRequest {
  using Headers = std::vector<std::pair<std::string, std::string>>;
  HttpRequest(std::string m = "GET", std::string t = "/", Headers h = {}, std::string b = {})
      : method(std::move(m)), target(std::move(t)), headers(std::move(h)), body(std::move(b)) {}
  std::string method;
  std::string target;  // path and query, exactly as sent
  Headers headers;
  std::string body;  // sent with a Content-Length (its type is the Content-Type header, if any)
};

// Percent-decodes once with the rules of nginx set-misc's set_unescape_uri: %XX becomes the byte,
// '+' becomes a space, a '%' before a non-hex byte is dropped, "%X" before a non-hex byte is
// dropped with that byte. Applied once: %2550 decodes to %50, as IIS {UrlDecode:} does. This is
// the rule core's decoder (rule_core/decode.c), the one the nginx module runs.
std::string unescape_once(std::string_view text);

// nginx's $uri: the path decoded, with "//" merged and "." and ".." segments resolved.
std::string normalized_path(std::string_view raw_path);

std::string_view raw_path(std::string_view target);
// A header value as servers hand it on: without the optional whitespace (spaces, tabs) around it.
std::string trim_ows(std::string_view value);
std::string_view raw_query(std::string_view target);

// The body a server hands on: a request whose Transfer-Encoding says chunked has its body as sent on
// the wire (chunk sizes, extensions, trailers); the chunks joined. A malformed framing yields what
// was read before it (nginx answers 400 there and no rule runs).
std::string request_body(const HttpRequest& request);

// The value an input has for a request (before `decode`), as nginx 1.22 computes it:
// header:NAME is the first header of that name; cookie is every Cookie header joined by "; ".
// How the server behind a rule sees requests where nginx and Apache differ: nginx's header:NAME is
// the first header of that name and repeated Cookie headers are joined with "; "; Apache's
// %{HTTP:NAME} joins every occurrence with ", ".
enum class ServerSemantics { nginx, apache };
std::string input_value(const HttpRequest& request, const RuleInput& input, ServerSemantics server = ServerSemantics::nginx);

}  // namespace mitigd
