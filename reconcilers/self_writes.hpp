#pragma once
// What mitigd itself last wrote to each file of the include dirs (a content hash, or "removed"), so
// that the daemon's file watches tell its own writes from an operator's by content, not by timing:
// an event for a file that holds exactly what mitigd last put there is mitigd's own echo.
// Shared by the worker (the driver records) and the event loop (the watcher asks): locked.
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace mitigd::web {

class SelfWrites {
 public:
  void wrote(const std::string& path, std::string_view content);
  void removed(const std::string& path);
  // Whether the file at `path` is now exactly what mitigd last left there (reads at most 4 MiB).
  // False for a path mitigd never wrote.
  bool is_own(const std::string& path) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> last_;  // path -> SHA-256 hex, or "" after a removal
};

}  // namespace mitigd::web
