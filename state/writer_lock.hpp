#pragma once
// One writer at a time: the daemon and `mitigctl apply` take an exclusive flock on
// "<database>.lock" before changing the server. The holder's pid is written into the file so the
// second writer can say who holds it. The kernel drops the lock when the holder dies (even SIGKILL).
#include <optional>
#include <string>

namespace mitigd::state {

class WriterLock {
 public:
  // nullopt and `holder` filled in ("pid 1234 (mitigd)") when another process holds it.
  static std::optional<WriterLock> try_acquire(const std::string& db_path, std::string* holder);
  WriterLock(WriterLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  WriterLock& operator=(WriterLock&&) = delete;
  ~WriterLock();

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace mitigd::state
