#pragma once
// inotify on the directories whose files are inputs (policy, inventory, manifests, version files),
// the web server's own config (an operator's fix retries what waited for it) and mitigd's include
// dirs (drift). Bursts (a git checkout) are debounced into one callback. mitigd's own writes are
// recognised by content (web::SelfWrites), never by timing, and do not trigger anything: a failing
// revert cannot re-trigger itself.
#include "reconcilers/self_writes.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mitigd {

class FileWatch {
 public:
  FileWatch(boost::asio::io_context& io, const web::SelfWrites& own, std::function<void()> on_change);
  // Replaces the watched set; false when inotify is unavailable (the timers still reconcile).
  bool watch(const std::vector<std::string>& dirs);
  const std::vector<std::string>& watched() const { return dirs_; }
  void close();

 private:
  void read();
  bool relevant(int wd, const std::string& name) const;
  boost::asio::posix::stream_descriptor fd_;
  boost::asio::steady_timer debounce_;
  const web::SelfWrites& own_;
  std::function<void()> on_change_;
  std::vector<std::string> dirs_;
  std::map<int, std::string> dir_of_wd_;
  std::array<char, 16384> buffer_{};
};

}  // namespace mitigd
