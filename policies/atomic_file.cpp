#include "policies/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

namespace mitigd {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text() { return std::strerror(errno); }

// The directory of `path`, opened without following a symlink in its last component.
Result<int> open_parent(const std::string& path, std::string& name) {
  std::filesystem::path p(path);
  name = p.filename().string();
  if (name.empty() || name == "." || name == "..") return make_error(Errc::invalid_input, path + ": not a file name");
  std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
  // The directory path comes from root's config and may be a symlink; the file in it never is followed.
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::io, dir + ": cannot open the directory: " + errno_text());
  return fd;
}

std::string temp_name(const std::string& name) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
  return "." + name + "." + suffix + std::string(kTempSuffix);
}

}  // namespace

Result<void> write_file_atomically(const std::string& path, std::string_view content, unsigned mode) {
  std::string name;
  auto dir = open_parent(path, name);
  if (!dir) return dir.error();
  Fd dfd{*dir};
  std::string tmp;
  Fd f;
  for (int attempt = 0; attempt < 8 && f.fd < 0; ++attempt) {
    tmp = temp_name(name);
    f.fd = ::openat(dfd.fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (f.fd < 0 && errno != EEXIST) return make_error(Errc::io, path + ": cannot write: " + errno_text());
  }
  if (f.fd < 0) return make_error(Errc::io, path + ": cannot create a temporary file");
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(f.fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  bool ok = done == content.size() && ::fchmod(f.fd, mode) == 0 && ::fsync(f.fd) == 0;
  int saved = errno;
  ::close(f.fd);
  f.fd = -1;
  if (!ok || ::renameat(dfd.fd, tmp.c_str(), dfd.fd, name.c_str()) != 0) {
    if (ok) saved = errno;
    ::unlinkat(dfd.fd, tmp.c_str(), 0);
    return make_error(Errc::io, path + ": cannot write: " + std::strerror(saved));
  }
  ::fsync(dfd.fd);
  return {};
}

Result<void> remove_file_in_dir(const std::string& path) {
  std::string name;
  auto dir = open_parent(path, name);
  if (!dir) return dir.error();
  Fd dfd{*dir};
  if (::unlinkat(dfd.fd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return make_error(Errc::io, path + ": cannot remove: " + errno_text());
  }
  ::fsync(dfd.fd);
  return {};
}

}  // namespace mitigd
