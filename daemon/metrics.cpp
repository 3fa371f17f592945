#include "daemon/metrics.hpp"

#include <chrono>
#include <sstream>

namespace mitigd {

void Metrics::count_trigger(const std::string& trigger) { ++triggers_[trigger]; }

void Metrics::record_reconcile(const std::string& result, double seconds, const std::map<std::string, int>& by_status,
                               bool inputs_ok, long feed_last_success) {
  ++reconciles_[result];
  duration_sum_ += seconds;
  last_duration_ = seconds;
  ++duration_count_;
  if (!by_status.empty()) by_status_ = by_status;
  inputs_ok_ = inputs_ok;
  if (feed_last_success) feed_last_success_ = feed_last_success;
  last_reconcile_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Metrics::record_feed(long expires, bool last_update_ok, bool expired) {
  feed_configured_ = true;
  feed_expires_ = expires;
  feed_update_ok_ = last_update_ok;
  feed_expired_ = expired;
}

std::string Metrics::render() const {
  std::ostringstream o;
  o << "# HELP mitigd_build_info Build information.\n# TYPE mitigd_build_info gauge\n"
    << "mitigd_build_info{version=\"0.1.0\"} 1\n";
  o << "# HELP mitigd_reconciles_total Reconciles by result.\n# TYPE mitigd_reconciles_total counter\n";
  for (const char* r : {"ok", "failed", "error"}) {
    auto it = reconciles_.find(r);
    o << "mitigd_reconciles_total{result=\"" << r << "\"} " << (it == reconciles_.end() ? 0 : it->second) << "\n";
  }
  o << "# HELP mitigd_reconcile_duration_seconds Time spent reconciling.\n# TYPE mitigd_reconcile_duration_seconds summary\n"
    << "mitigd_reconcile_duration_seconds_sum " << duration_sum_ << "\n"
    << "mitigd_reconcile_duration_seconds_count " << duration_count_ << "\n";
  o << "# HELP mitigd_last_reconcile_duration_seconds Duration of the last reconcile.\n# TYPE mitigd_last_reconcile_duration_seconds gauge\n"
    << "mitigd_last_reconcile_duration_seconds " << last_duration_ << "\n";
  o << "# HELP mitigd_last_reconcile_timestamp_seconds When the last reconcile finished.\n# TYPE mitigd_last_reconcile_timestamp_seconds gauge\n"
    << "mitigd_last_reconcile_timestamp_seconds " << last_reconcile_ << "\n";
  o << "# HELP mitigd_triggers_total Reconcile requests by trigger.\n# TYPE mitigd_triggers_total counter\n";
  for (const auto& [t, n] : triggers_) o << "mitigd_triggers_total{trigger=\"" << t << "\"} " << n << "\n";
  o << "# HELP mitigd_mitigations Mitigations of this server by status.\n# TYPE mitigd_mitigations gauge\n";
  for (const char* s : {"applied", "pending", "blocked", "disabled", "not_applicable", "superseded", "expired", "withdrawn", "failed"}) {
    auto it = by_status_.find(s);
    o << "mitigd_mitigations{status=\"" << s << "\"} " << (it == by_status_.end() ? 0 : it->second) << "\n";
  }
  o << "# HELP mitigd_inputs_valid 1 when the last load of policy, inventory and manifests succeeded; 0 while the last good ones are kept.\n"
    << "# TYPE mitigd_inputs_valid gauge\nmitigd_inputs_valid " << (inputs_ok_ ? 1 : 0) << "\n";
  o << "# HELP mitigd_feed_last_success_timestamp_seconds When manifests were last loaded and verified.\n"
    << "# TYPE mitigd_feed_last_success_timestamp_seconds gauge\nmitigd_feed_last_success_timestamp_seconds " << feed_last_success_ << "\n";
  if (feed_configured_) {
    o << "# HELP mitigd_feed_expiry_timestamp_seconds When the trusted feed metadata expires (earliest top-level role).\n"
      << "# TYPE mitigd_feed_expiry_timestamp_seconds gauge\nmitigd_feed_expiry_timestamp_seconds " << feed_expires_ << "\n";
    o << "# HELP mitigd_feed_update_ok 1 when the last online update of the signed feed verified; 0 while the last verified state is kept.\n"
      << "# TYPE mitigd_feed_update_ok gauge\nmitigd_feed_update_ok " << (feed_update_ok_ ? 1 : 0) << "\n";
    o << "# HELP mitigd_feed_expired 1 when the trusted feed metadata has expired.\n"
      << "# TYPE mitigd_feed_expired gauge\nmitigd_feed_expired " << (feed_expired_ ? 1 : 0) << "\n";
  }
  return o.str();
}

}  // namespace mitigd
