#include "daemon/file_watch.hpp"

#include <sys/inotify.h>

#include <chrono>

namespace mitigd {
namespace asio = boost::asio;

FileWatch::FileWatch(asio::io_context& io, const web::SelfWrites& own, std::function<void()> on_change)
    : fd_(io), debounce_(io), own_(own), on_change_(std::move(on_change)) {}

bool FileWatch::watch(const std::vector<std::string>& dirs) {
  close();
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return false;
  for (const auto& d : dirs) {
    int wd = inotify_add_watch(fd, d.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB);
    if (wd >= 0) dir_of_wd_[wd] = d;
  }
  fd_.assign(fd);
  dirs_ = dirs;
  read();
  return true;
}

void FileWatch::close() {
  boost::system::error_code ignored;
  debounce_.cancel();
  fd_.close(ignored);
  dir_of_wd_.clear();
  dirs_.clear();
}

bool FileWatch::relevant(int wd, const std::string& name) const {
  // Temporary files of an atomic write, the state database's own files: never an input.
  if (name.ends_with(".mitigd-tmp") || name.ends_with(".mitigctl-tmp") || name.ends_with("-journal") ||
      name.ends_with("-wal") || name.ends_with("-shm") || name == ".mitigd-journal") {
    return false;
  }
  auto dir = dir_of_wd_.find(wd);
  if (dir == dir_of_wd_.end() || name.empty()) return true;
  return !own_.is_own(dir->second + "/" + name);
}

void FileWatch::read() {
  fd_.async_read_some(asio::buffer(buffer_), [this](auto ec, std::size_t n) {
    if (ec) return;
    bool any = false;
    for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
      auto* ev = reinterpret_cast<const inotify_event*>(buffer_.data() + off);
      std::string name = ev->len ? ev->name : "";
      if (relevant(ev->wd, name)) any = true;
      off += sizeof(inotify_event) + ev->len;
    }
    if (any) {
      debounce_.expires_after(std::chrono::milliseconds(100));
      debounce_.async_wait([this](auto e) {
        if (!e) on_change_();
      });
    }
    read();
  });
}

}  // namespace mitigd
