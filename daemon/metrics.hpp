#pragma once
// Prometheus text exposition of the daemon's state. Only touched on the event-loop thread.
#include "daemon/reconcile.hpp"
#include "reconcilers/rule_counters.hpp"

#include <map>
#include <ostream>
#include <vector>
#include <string>

namespace mitigd {

class Metrics {
 public:
  void count_trigger(const std::string& trigger);
  void record_run(const RunReport& run);
  // The signed feed: expiry of the trusted metadata, whether the last online update worked.
  void record_feed(long expires, bool last_update_ok, bool expired);
  // Where the nginx module's per-rule counters are read at each scrape (empty url: no module) and
  // which mitigation and action each rule id belongs to.
  void set_rule_source(std::string counters_url, std::map<std::string, RuleOrigin> origins);
  std::string render() const;

 private:
  void render_mitigations(std::ostream& o) const;
  void render_rule_matches(std::ostream& o) const;
  std::string counters_url_;
  std::map<std::string, RuleOrigin> origins_;
  std::map<std::string, long> triggers_;
  std::map<std::string, long> reconciles_;
  double duration_sum_ = 0, last_duration_ = 0;
  long duration_count_ = 0;
  std::map<std::string, int> by_state_;
  std::vector<MitigationState> mitigations_;
  bool have_states_ = false;
  bool inputs_ok_ = true;
  long feed_last_success_ = 0;
  bool feed_configured_ = false, feed_update_ok_ = true, feed_expired_ = false;
  long feed_expires_ = 0;
  long last_reconcile_ = 0;
};

}  // namespace mitigd
