#include "policies/request_semantics.hpp"

#include "mitigd_core.h"

#include <algorithm>
#include <cctype>

namespace mitigd {

std::string to_string(const RuleInput& input) {
  switch (input.kind) {
    case InputKind::request_uri: return "request_uri";
    case InputKind::path: return "path";
    case InputKind::query: return "query";
    case InputKind::method: return "method";
    case InputKind::header: return "header:" + input.name;
    case InputKind::cookie: return "cookie";
    case InputKind::cookie_named: return "cookie:" + input.name;
    case InputKind::arg: return "arg:" + input.name;
    case InputKind::args: return "args";
    case InputKind::arg_names: return "arg_names";
    case InputKind::headers: return "headers";
    case InputKind::header_names: return "header_names";
    case InputKind::path_raw_decoded: return "path_raw_decoded";
    case InputKind::body: return "body";
    case InputKind::body_arg: return "body_arg:" + input.name;
    case InputKind::body_args: return "body_args";
    case InputKind::body_arg_names: return "body_arg_names";
    case InputKind::files: return "files";
  }
  return "?";
}

bool input_on_every_engine(InputKind kind) {
  return kind == InputKind::request_uri || kind == InputKind::path || kind == InputKind::query ||
         kind == InputKind::method || kind == InputKind::header || kind == InputKind::cookie ||
         kind == InputKind::cookie_named;
}

bool input_reads_body(InputKind kind) {
  return kind == InputKind::body || kind == InputKind::body_arg || kind == InputKind::body_args ||
         kind == InputKind::body_arg_names || kind == InputKind::files;
}

namespace {

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<unsigned char>(c | 0x20);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string unescape_once(std::string_view text) {
  std::string out(text.size(), '\0');
  out.resize(mc_unescape(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                         reinterpret_cast<unsigned char*>(out.data())));
  return out;
}

std::string_view raw_path(std::string_view target) { return target.substr(0, target.find('?')); }

std::string_view raw_query(std::string_view target) {
  std::size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

std::string normalized_path(std::string_view raw) {
  // Decode %XX (nginx does not turn '+' into a space in the path).
  std::string decoded;
  decoded.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '%' && i + 2 < raw.size() &&
        hex_value(static_cast<unsigned char>(raw[i + 1])) >= 0 &&
        hex_value(static_cast<unsigned char>(raw[i + 2])) >= 0) {
      decoded.push_back(static_cast<char>(hex_value(static_cast<unsigned char>(raw[i + 1])) * 16 +
                                          hex_value(static_cast<unsigned char>(raw[i + 2]))));
      i += 2;
    } else {
      decoded.push_back(raw[i]);
    }
  }
  // Split into segments, merging empty ones and resolving dot segments.
  std::vector<std::string_view> segments;
  std::string_view rest = decoded;
  bool trailing_slash = !rest.empty() && rest.back() == '/';
  while (!rest.empty()) {
    std::size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(seg);
  }
  std::string out = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    out += segments[i];
    if (i + 1 < segments.size()) out += '/';
  }
  if (!segments.empty() && (trailing_slash || decoded.ends_with("/.") || decoded.ends_with("/.."))) {
    out += '/';
  }
  return out;
}

std::string trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return std::string(v);
}

std::string input_value(const HttpRequest& request, const RuleInput& input, ServerSemantics server) {
  const bool apache = server == ServerSemantics::apache;
  switch (input.kind) {
    case InputKind::request_uri: return request.target;
    case InputKind::path: return normalized_path(raw_path(request.target));
    case InputKind::query: return std::string(raw_query(request.target));
    case InputKind::method: return request.method;
    case InputKind::header: {
      std::string joined;
      for (const auto& [name, value] : request.headers) {
        if (!iequals(name, input.name)) continue;
        if (!apache) return trim_ows(value);
        joined += (joined.empty() ? "" : ", ") + trim_ows(value);
      }
      return joined;
    }
    case InputKind::cookie:
    case InputKind::cookie_named: {
      std::string joined;
      for (const auto& [name, value] : request.headers) {
        if (!iequals(name, "cookie")) continue;
        if (!joined.empty()) joined += apache ? ", " : "; ";
        joined += trim_ows(value);
      }
      if (input.kind == InputKind::cookie) return joined;
      // nginx $cookie_NAME: the first cookie of that name (case-insensitive), value up to ';'.
      std::string_view rest = joined;
      while (!rest.empty()) {
        std::size_t semi = apache ? rest.find_first_of(";,") : rest.find(';');
        std::string_view pair = rest.substr(0, semi);
        rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
        while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
        std::size_t eq = pair.find('=');
        if (eq != std::string_view::npos && iequals(pair.substr(0, eq), input.name)) {
          return std::string(pair.substr(eq + 1));
        }
      }
      return {};
    }
    default: return {};  // inputs only the nginx module evaluates (the rule core computes them)
  }
}

std::string request_body(const HttpRequest& request) {
  bool chunked = false;
  for (const auto& [name, value] : request.headers) {
    std::string n = name, v = value;
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == "transfer-encoding" && v.find("chunked") != std::string::npos) chunked = true;
  }
  if (!chunked) return request.body;
  std::string out;
  std::size_t at = 0;
  const std::string& in = request.body;
  while (at < in.size()) {
    std::size_t eol = in.find("\r\n", at);
    if (eol == std::string::npos) break;
    std::size_t size = 0, i = at;
    for (; i < eol && std::isxdigit(static_cast<unsigned char>(in[i])) && size < (std::size_t{1} << 40); ++i) {
      size = size * 16 + static_cast<std::size_t>(std::isdigit(static_cast<unsigned char>(in[i])) ? in[i] - '0' : (in[i] | 0x20) - 'a' + 10);
    }
    if (i == at || size == 0 || eol + 2 + size > in.size()) break;
    out.append(in, eol + 2, size);
    at = eol + 2 + size + 2;
  }
  return out;
}

}  // namespace mitigd
