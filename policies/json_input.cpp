#include "policies/json_input.hpp"

#include "policies/json_duplicates.hpp"

#include "policies/limits.hpp"

#include <boost/json/parse_options.hpp>
#include <boost/json/stream_parser.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/stat.h>

namespace mitigd::json_input {
namespace json = boost::json;

Result<std::string> read_file_capped(const std::string& path, std::size_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(errno == ENOENT ? Errc::not_found : Errc::io,
                      path + ": cannot read: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return make_error(Errc::invalid_input, path + ": not a regular file");
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    return make_error(Errc::invalid_input, path + ": file is " + std::to_string(st.st_size) +
                                               " bytes, larger than the limit of " +
                                               std::to_string(max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, path + ": cannot open: " + std::strerror(errno));
  std::string text;
  text.resize(static_cast<std::size_t>(st.st_size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return make_error(Errc::io, path + ": read failed");
  // The file may have grown between stat and read: never accept more than the cap.
  if (in.peek() != std::char_traits<char>::eof()) {
    return make_error(Errc::invalid_input, path + ": file grew while being read");
  }
  return text;
}

Result<json::value> parse(std::string_view file, std::string_view text) {
  json::parse_options options;
  options.max_depth = limits::kJsonDepth;
  json::stream_parser parser({}, options);
  boost::system::error_code ec;
  std::size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) ec = json::error::extra_data;
  if (!ec) parser.finish(ec);
  if (ec) {
    // Line and column of the byte where the parser stopped, both 1-based.
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < consumed && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return make_error(Errc::invalid_input, std::string(file) + ":" + std::to_string(line) + ":" +
                                               std::to_string(column) + ": JSON syntax error: " +
                                               ec.message());
  }
  if (auto dup = find_duplicate_key(text)) {
    return make_error(Errc::invalid_input, std::string(file) + ":" + std::to_string(dup->line) + ": " +
                                               (dup->path.empty() ? std::string("the top-level object") : dup->path) +
                                               ": key \"" + dup->key + "\" appears twice (which one counts would be "
                                               "ambiguous): expected each key once");
  }
  return parser.release();
}

std::string SchemaError::message() const {
  return file + ": " + (path.empty() ? std::string("document") : path) + ": expected " + expected;
}

void fail_at(const std::string& file, const std::string& path, std::string expected) {
  throw SchemaError{file, path, std::move(expected)};
}

std::string index_path(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string key_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

bool is_single_line(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

ObjectReader::ObjectReader(const json::value& value, std::string file, std::string path)
    : object_(value.if_object()), file_(std::move(file)), path_(std::move(path)) {
  if (!object_) fail_at(file_, path_, "an object");
}

ObjectReader::ObjectReader(const json::value& value, std::string file, std::string path,
                           std::initializer_list<std::string_view> allowed)
    : ObjectReader(value, std::move(file), std::move(path)) {
  for (const auto& kv : *object_) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(kv.key())) == allowed.end()) {
      fail_at(file_, child_path(kv.key()),
              "no such field (unknown fields are refused so that a typo cannot drop a setting)");
    }
  }
}

std::string ObjectReader::child_path(std::string_view key) const { return key_path(path_, key); }

void ObjectReader::fail(std::string_view key, std::string expected) const {
  fail_at(file_, child_path(key), std::move(expected));
}

const json::value* ObjectReader::optional(std::string_view key) {
  seen_.emplace(key);
  return object_->if_contains(key);
}

const json::value& ObjectReader::required(std::string_view key) {
  const json::value* v = optional(key);
  if (!v) fail(key, "this required field");
  return *v;
}

std::string as_string(const json::value& v, const std::string& file, const std::string& path,
                      std::size_t max_bytes) {
  const json::string* s = v.if_string();
  if (!s) fail_at(file, path, "a string");
  if (s->size() > max_bytes) {
    fail_at(file, path, "a string of at most " + std::to_string(max_bytes) + " bytes");
  }
  return std::string(s->data(), s->size());
}

const json::array& as_array(const json::value& v, const std::string& file, const std::string& path,
                            std::size_t max_items) {
  const json::array* a = v.if_array();
  if (!a) fail_at(file, path, "an array");
  if (a->size() > max_items) {
    fail_at(file, path, "an array of at most " + std::to_string(max_items) + " items");
  }
  return *a;
}

std::string ObjectReader::string(std::string_view key, std::size_t max_bytes) {
  return as_string(required(key), file_, child_path(key), max_bytes);
}

std::optional<std::string> ObjectReader::optional_string(std::string_view key,
                                                         std::size_t max_bytes) {
  const json::value* v = optional(key);
  if (!v) return std::nullopt;
  return as_string(*v, file_, child_path(key), max_bytes);
}

bool ObjectReader::boolean(std::string_view key, bool fallback) {
  const json::value* v = optional(key);
  if (!v) return fallback;
  if (!v->is_bool()) fail(key, "true or false");
  return v->get_bool();
}

std::int64_t ObjectReader::integer(std::string_view key, std::int64_t min, std::int64_t max) {
  const json::value& v = required(key);
  std::int64_t n = 0;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(max)) {
    n = static_cast<std::int64_t>(v.get_uint64());
  } else {
    fail(key, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  if (n < min || n > max) {
    fail(key, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return n;
}

void ObjectReader::finish() const {
  for (const auto& kv : *object_) {
    if (!seen_.contains(std::string_view(kv.key()))) {
      fail_at(file_, child_path(kv.key()),
              "no such field (unknown fields are refused so that a typo cannot drop a setting)");
    }
  }
}

}  // namespace mitigd::json_input
