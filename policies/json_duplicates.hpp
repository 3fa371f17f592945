#pragma once
// Duplicate object keys in JSON text. Boost.JSON keeps the last of two equal keys, while a reviewer
// (or our own policy editor) reads the first: a document could say one thing to people and another
// to mitigd. Every JSON input is refused when any object repeats a key (compared after unescaping,
// so "\u0069d" and "id" are the same key).
#include <optional>
#include <string>
#include <string_view>

namespace mitigd::json_input {

struct DuplicateKey {
  std::string path;  // where the object is, "actions[0].when[1]" ("" for the top level)
  std::string key;
  std::size_t line = 0;  // of the second occurrence, 1-based (best effort)
};

// The first duplicate key in `text` (valid JSON assumed; invalid text gives nullopt).
std::optional<DuplicateKey> find_duplicate_key(std::string_view text);

}  // namespace mitigd::json_input
