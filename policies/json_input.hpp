#pragma once
// Reading untrusted JSON with errors a person can act on: syntax errors carry file:line:column,
// schema errors carry the file and the field path (`actions[2].when[0].pattern`).
#include "policies/error.hpp"

#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace mitigd::json_input {

// Reads a whole file, refusing anything larger than max_bytes before reading it all.
Result<std::string> read_file_capped(const std::string& path, std::size_t max_bytes);

// Parses text as JSON (UTF-8 validated, depth capped). On error: "FILE:LINE:COL: ...".
Result<boost::json::value> parse(std::string_view file, std::string_view text);

// Thrown by the readers below and caught at the parse entry points, which turn it into an Error.
struct SchemaError {
  std::string file;
  std::string path;
  std::string expected;
  std::string message() const;
};

// Walks one JSON object: every field read is remembered, and finish() rejects the others,
// so a typo can never silently drop a safety setting.
class ObjectReader {
 public:
  ObjectReader(const boost::json::value& value, std::string file, std::string path);
  // With the allowed keys known up front, an unknown (typo'd) key is reported before a required
  // one is found missing: "patern: no such field" rather than "pattern: required".
  ObjectReader(const boost::json::value& value, std::string file, std::string path,
               std::initializer_list<std::string_view> allowed);

  const boost::json::value* optional(std::string_view key);
  const boost::json::value& required(std::string_view key);

  std::string string(std::string_view key, std::size_t max_bytes);
  std::optional<std::string> optional_string(std::string_view key, std::size_t max_bytes);
  bool boolean(std::string_view key, bool fallback);
  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max);

  std::string child_path(std::string_view key) const;
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  const boost::json::object& object() const { return *object_; }

  [[noreturn]] void fail(std::string_view key, std::string expected) const;
  void finish() const;

 private:
  const boost::json::object* object_;
  std::string file_;
  std::string path_;
  std::set<std::string, std::less<>> seen_;
};

[[noreturn]] void fail_at(const std::string& file, const std::string& path, std::string expected);

// Helpers for values that are not inside an ObjectReader (array elements, map values).
std::string as_string(const boost::json::value& v, const std::string& file, const std::string& path,
                      std::size_t max_bytes);
const boost::json::array& as_array(const boost::json::value& v, const std::string& file,
                                   const std::string& path, std::size_t max_items);
std::string index_path(const std::string& path, std::size_t index);
std::string key_path(const std::string& path, std::string_view key);

// A printable single-line string: no control characters. Used for every name that may be shown.
bool is_single_line(std::string_view s);

}  // namespace mitigd::json_input
