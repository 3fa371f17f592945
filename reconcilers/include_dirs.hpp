#pragma once
// The web server's include directories as the driver sees them: list, read, replace and remove
// files by name in a directory. The real one goes through directory descriptors (atomic replace,
// O_NOFOLLOW, fsync); tests pass an in-memory one. Names are single path components.
#include "policies/error.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mitigd::web {

class IncludeDirs {
 public:
  virtual ~IncludeDirs() = default;
  // Every regular file in dir whose name ends with `suffix`, with its content (bounded).
  virtual std::map<std::string, std::string> list(const std::string& dir, std::string_view suffix) = 0;
  virtual std::optional<std::string> read(const std::string& dir, const std::string& name) = 0;
  virtual bool exists(const std::string& dir, const std::string& name) = 0;
  virtual Result<void> write(const std::string& dir, const std::string& name, std::string_view content) = 0;
  virtual Result<void> remove(const std::string& dir, const std::string& name) = 0;
  // Leftovers of interrupted atomic writes.
  virtual void remove_temporaries(const std::string& dir) = 0;
};

// The machine's filesystem.
IncludeDirs& disk_include_dirs();

}  // namespace mitigd::web
