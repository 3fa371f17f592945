#include "reconcilers/include_dirs.hpp"

#include "policies/atomic_file.hpp"
#include "policies/json_input.hpp"

#include <filesystem>

namespace mitigd::web {
namespace fs = std::filesystem;

namespace {

// A rule file is small; anything bigger is not one of ours.
constexpr std::size_t kMaxIncludeFile = 8 * 1024 * 1024;

class DiskIncludeDirs final : public IncludeDirs {
 public:
  std::map<std::string, std::string> list(const std::string& dir, std::string_view suffix) override {
    std::map<std::string, std::string> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      // Not following a symlink: a link planted in the dir is never read as one of our files.
      if (!name.ends_with(suffix) || !entry.is_regular_file(ec) || entry.is_symlink(ec)) continue;
      if (auto text = read(dir, name)) out[name] = std::move(*text);
    }
    return out;
  }
  std::optional<std::string> read(const std::string& dir, const std::string& name) override {
    auto text = json_input::read_file_capped((fs::path(dir) / name).string(), kMaxIncludeFile);
    if (!text) return std::nullopt;
    return std::move(*text);
  }
  bool exists(const std::string& dir, const std::string& name) override {
    std::error_code ec;
    return fs::symlink_status(fs::path(dir) / name, ec).type() != fs::file_type::not_found && !ec;
  }
  Result<void> write(const std::string& dir, const std::string& name, std::string_view content) override {
    return write_file_atomically((fs::path(dir) / name).string(), content, 0644);
  }
  Result<void> remove(const std::string& dir, const std::string& name) override {
    return remove_file_in_dir((fs::path(dir) / name).string());
  }
  void remove_temporaries(const std::string& dir) override {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (name.ends_with(kTempSuffix)) (void)remove_file_in_dir(entry.path().string());
    }
  }
};

}  // namespace

IncludeDirs& disk_include_dirs() {
  static DiskIncludeDirs dirs;
  return dirs;
}

}  // namespace mitigd::web
