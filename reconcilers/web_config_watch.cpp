#include "reconcilers/web_config_watch.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace mitigd::web {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxDepth = 4;
constexpr std::size_t kMaxEntries = 4000;

// Runtime state that lives beside config in a private prefix (logs, pid files, temp dirs): its
// changes are not an operator's edit and must not count as one.
bool runtime_dir(const std::string& name) {
  return name == "logs" || name == "log" || name == "run" || name == "tmp" || name == "cache" || name.ends_with("_temp");
}
bool runtime_file(const std::string& name) {
  for (const char* ext : {".log", ".pid", ".sock", ".lock", ".swp", ".tmp", ".mitigd-tmp"}) {
    if (name.ends_with(ext)) return true;
  }
  return name.starts_with(".");
}

struct Walker {
  std::set<std::string> skip;
  std::set<std::string> dirs;
  std::vector<std::string> paths;
  std::vector<std::string> files;  // "path size mtime"
  std::size_t entries = 0;

  void note_file(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return;
    paths.push_back(p.string());
    files.push_back(p.string() + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                    std::to_string(st.st_mtim.tv_nsec));
  }

  void walk(const fs::path& dir, int depth) {
    if (depth > kMaxDepth || skip.contains(dir.string()) || !dirs.insert(dir.string()).second) return;
    std::error_code ec;
    std::vector<fs::directory_entry> entries_here;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (++entries > kMaxEntries) return;
      entries_here.push_back(e);
    }
    std::sort(entries_here.begin(), entries_here.end());
    for (const auto& e : entries_here) {
      std::error_code ec2;
      std::string name = e.path().filename().string();
      if (runtime_file(name) || (runtime_dir(name) && e.is_directory(ec2))) continue;
      if (e.is_symlink(ec2)) {
        // Debian's sites-enabled links into sites-available: an edit there changes the target.
        fs::path target = fs::weakly_canonical(e.path(), ec2);
        if (!ec2 && fs::is_regular_file(target, ec2)) {
          dirs.insert(target.parent_path().string());
          note_file(target);
        }
        continue;
      }
      if (e.is_directory(ec2)) walk(e.path(), depth + 1);
      else if (e.is_regular_file(ec2)) note_file(e.path());
    }
  }
};

}  // namespace

ConfigView view_config(const WebServer& server) {
  ConfigView view;
  if (server.config_root.empty()) return view;
  Walker w;
  for (const std::string& d : {server.server_include_dir, server.http_include_dir}) {
    if (!d.empty()) w.skip.insert(fs::path(d).lexically_normal().string());
  }
  w.walk(fs::path(server.config_root).lexically_normal(), 0);
  // An include dir's parent (/etc/nginx/mitigd) holds nothing of the operator's but is walked
  // like the rest; the include dirs themselves are watched separately, for drift.
  view.dirs.assign(w.dirs.begin(), w.dirs.end());
  std::sort(w.files.begin(), w.files.end());
  for (const auto& f : w.files) view.fingerprint += f + "\n";
  std::sort(w.paths.begin(), w.paths.end());
  w.paths.erase(std::unique(w.paths.begin(), w.paths.end()), w.paths.end());
  view.files = std::move(w.paths);
  return view;
}

}  // namespace mitigd::web
