#include "state/writer_lock.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/file.h>
#include <unistd.h>

namespace mitigd::state {

std::optional<WriterLock> WriterLock::try_acquire(const std::string& db_path, std::string* holder) {
  std::string path = db_path + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (holder) *holder = "cannot open " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (holder) {
      std::ifstream in(path);
      std::string who;
      std::getline(in, who);
      *holder = who.empty() ? "another process" : who;
    }
    ::close(fd);
    return std::nullopt;
  }
  std::string me = "pid " + std::to_string(::getpid());
  std::ifstream comm("/proc/self/comm");
  std::string name;
  if (std::getline(comm, name)) me += " (" + name + ")";
  me += "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] ssize_t n = ::pwrite(fd, me.data(), me.size(), 0);
  }
  return WriterLock(fd);
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace mitigd::state
