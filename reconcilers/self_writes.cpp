#include "reconcilers/self_writes.hpp"

#include <botan/hash.h>
#include <botan/hex.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

namespace mitigd::web {

namespace {

std::string sha256_hex(std::string_view bytes) {
  auto hash = Botan::HashFunction::create_or_throw("SHA-256");
  hash->update(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return Botan::hex_encode(hash->final(), false);
}

// The file's content (nullopt when absent); "?" when unreadable or too big to be ours.
std::optional<std::string> read_bounded(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ENOENT ? std::nullopt : std::optional<std::string>("?");
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (4u << 20)) break;
  }
  ::close(fd);
  return out;
}

}  // namespace

void SelfWrites::wrote(const std::string& path, std::string_view content) {
  std::string h = sha256_hex(content);
  std::lock_guard lock(mu_);
  last_[path] = std::move(h);
}

void SelfWrites::removed(const std::string& path) {
  std::lock_guard lock(mu_);
  last_[path] = "";
}

bool SelfWrites::is_own(const std::string& path) const {
  std::string expected;
  {
    std::lock_guard lock(mu_);
    auto it = last_.find(path);
    if (it == last_.end()) return false;
    expected = it->second;
  }
  auto now = read_bounded(path);
  if (!now) return expected.empty();
  return !expected.empty() && sha256_hex(*now) == expected;
}

}  // namespace mitigd::web
