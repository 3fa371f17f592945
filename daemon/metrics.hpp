#pragma once
// Prometheus text exposition of the daemon's state. Only touched on the event-loop thread.
#include <map>
#include <string>

namespace mitigd {

class Metrics {
 public:
  void count_trigger(const std::string& trigger);
  void record_reconcile(const std::string& result, double seconds, const std::map<std::string, int>& by_status,
                        bool inputs_ok, long feed_last_success);
  // The signed feed: expiry of the trusted metadata, whether the last online update worked.
  void record_feed(long expires, bool last_update_ok, bool expired);
  std::string render() const;

 private:
  std::map<std::string, long> triggers_;
  std::map<std::string, long> reconciles_;
  double duration_sum_ = 0, last_duration_ = 0;
  long duration_count_ = 0;
  std::map<std::string, int> by_status_;
  bool inputs_ok_ = true;
  long feed_last_success_ = 0;
  bool feed_configured_ = false, feed_update_ok_ = true, feed_expired_ = false;
  long feed_expires_ = 0;
  long last_reconcile_ = 0;
};

}  // namespace mitigd
