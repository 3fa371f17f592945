#include "daemon/trigger_queue.hpp"

#include <algorithm>

namespace mitigd {

void TriggerQueue::request(const std::string& why) { due_.insert(why); }

void TriggerQueue::request_at(const std::string& why, TimePoint at) {
  if (!scheduled_ || at < *scheduled_) scheduled_ = at;
  scheduled_reasons_.insert(why);
}

std::optional<std::string> TriggerQueue::start(TimePoint now) {
  if (running_) return std::nullopt;
  if (scheduled_ && *scheduled_ <= now) {
    due_.insert(scheduled_reasons_.begin(), scheduled_reasons_.end());
    scheduled_.reset();
    scheduled_reasons_.clear();
  }
  if (due_.empty()) return std::nullopt;
  std::string reasons;
  for (const auto& r : due_) reasons += (reasons.empty() ? "" : "+") + r;
  due_.clear();
  running_ = true;
  ++runs_started_;
  return reasons;
}

void TriggerQueue::finished(TimePoint now, bool failed) {
  running_ = false;
  if (!failed) {
    consecutive_failures_ = 0;
    return;
  }
  ++consecutive_failures_;
  auto delay = std::chrono::seconds(std::min(60L, 1L << std::min(consecutive_failures_ - 1, 6)));
  request_at("requeue", now + delay);
}

std::optional<TriggerQueue::TimePoint> TriggerQueue::next_wake(TimePoint now) const {
  if (!due_.empty() || !scheduled_ || *scheduled_ <= now) return std::nullopt;
  return scheduled_;
}

}  // namespace mitigd
