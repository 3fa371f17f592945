#pragma once
// When the daemon reconciles: a pure, level-based queue. A trigger names what to look at, never
// what happened, so every request that arrives before a run starts is coalesced into that run;
// one run at a time; a run that failed as a whole (the state store was busy) is requeued with
// backoff; mitigations in backoff ask for a run at their next attempt. No clock is read here: the
// caller passes the time, which is what makes it testable.
#include <chrono>
#include <optional>
#include <set>
#include <string>

namespace mitigd {

class TriggerQueue {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  // A run as soon as possible, because of `why` ("poll", "files", "control"...).
  void request(const std::string& why);
  // A run at `at` (a mitigation's next attempt); an earlier one is kept.
  void request_at(const std::string& why, TimePoint at);

  // When a run may start at `now` (something is due and none is running): marks it running and
  // returns the reasons joined with '+'. Numbered from 1.
  std::optional<std::string> start(TimePoint now);
  std::uint64_t runs_started() const { return runs_started_; }
  bool running() const { return running_; }

  // The run that start() began has finished. `failed`: it could not run at all (requeued with
  // backoff 1 s, 2 s, ... 60 s); a run that worked resets the backoff.
  void finished(TimePoint now, bool failed);

  // When the next scheduled request falls due (nothing when nothing is scheduled or one is due).
  std::optional<TimePoint> next_wake(TimePoint now) const;

 private:
  std::set<std::string> due_;                   // requested now
  std::optional<TimePoint> scheduled_;          // the earliest future request
  std::set<std::string> scheduled_reasons_;
  bool running_ = false;
  std::uint64_t runs_started_ = 0;
  int consecutive_failures_ = 0;
};

}  // namespace mitigd
