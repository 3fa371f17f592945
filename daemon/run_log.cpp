#include "daemon/run_log.hpp"

namespace mitigd {

void RunLog::after_run(std::uint64_t run, const RunReport& r) {
  std::string run_text = std::to_string(run);
  if (!r.inputs_ok && r.inputs_error != last_inputs_error_) {
    log_.log(LOG_ERR, "inputs refused, the last good ones stay in force: " + r.inputs_error, {{"EVENT", "inputs_invalid"}});
  } else if (r.inputs_ok && !last_inputs_error_.empty()) {
    log_.log(LOG_NOTICE, "inputs valid again", {{"EVENT", "inputs_valid"}});
  }
  last_inputs_error_ = r.inputs_ok ? "" : r.inputs_error;
  std::string warnings;
  for (const auto& s : r.warnings) warnings += s + "\n";
  if (warnings != last_warnings_) {
    for (const auto& s : r.warnings) log_.log(LOG_WARNING, "WARNING: " + s, {{"EVENT", "warning"}});
    last_warnings_ = warnings;
  }
  for (const auto& line : r.outcome.lines) {
    log_.log(line.starts_with("!") ? LOG_ERR : LOG_NOTICE, line, {{"RUN", run_text}, {"TRIGGER", r.trigger}});
  }
  if (!r.error.empty()) log_.log(LOG_ERR, "reconcile failed: " + r.error, {{"RUN", run_text}});
  if (r.feed) {
    std::string problem = r.feed->expired ? "the trusted feed metadata has EXPIRED" : r.feed->error;
    if (problem != last_feed_error_) {
      if (problem.empty()) log_.log(LOG_NOTICE, "feed verifies again", {{"EVENT", "feed_recovered"}});
      else log_.log(LOG_ERR, "feed: " + problem + " (the last verified state stays in force)", {{"EVENT", "feed_problem"}});
      last_feed_error_ = problem;
    }
  }
}

}  // namespace mitigd
