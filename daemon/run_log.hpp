#pragma once
// What the daemon's log says after each run: every change line, and the state of the inputs, the
// warnings and the feed once per change (not once per run), so that the log reads as a history.
#include "daemon/logger.hpp"
#include "daemon/reconcile.hpp"

#include <string>

namespace mitigd {

class RunLog {
 public:
  explicit RunLog(Logger& log) : log_(log) {}
  void after_run(std::uint64_t run, const RunReport& r);

 private:
  Logger& log_;
  std::string last_feed_error_, last_inputs_error_, last_warnings_;
};

}  // namespace mitigd
