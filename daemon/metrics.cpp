#include "daemon/metrics.hpp"

#include <chrono>
#include <sstream>

namespace mitigd {

namespace {
std::string prometheus_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

void Metrics::count_trigger(const std::string& trigger) { ++triggers_[trigger]; }

void Metrics::record_run(const RunReport& run) {
  ++reconciles_[!run.error.empty() ? "error" : run.outcome.ok() ? "ok" : "failed"];
  duration_sum_ += run.seconds;
  last_duration_ = run.seconds;
  ++duration_count_;
  if (run.ran) {
    by_state_ = run.by_state;
    mitigations_ = run.mitigations;
    have_states_ = true;
  }
  inputs_ok_ = run.inputs_ok;
  if (run.feed_last_success) feed_last_success_ = run.feed_last_success;
  last_reconcile_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Metrics::record_feed(long expires, bool last_update_ok, bool expired) {
  feed_configured_ = true;
  feed_expires_ = expires;
  feed_update_ok_ = last_update_ok;
  feed_expired_ = expired;
}

// Counts by state, and one series per mitigation that is not in force: what alerts are written on
// (mitigd_mitigation_not_in_force > 0 for 15 minutes). Ids are from the manifest's strict syntax.
void Metrics::render_mitigations(std::ostream& o) const {
  o << "# HELP mitigd_mitigations Mitigations of this server by state.\n# TYPE mitigd_mitigations gauge\n";
  for (const char* s : {"applied", "pending", "failed", "waiting", "invalid", "blocked", "disabled", "not_applicable",
                        "superseded", "expired", "withdrawn"}) {
    auto it = by_state_.find(s);
    o << "mitigd_mitigations{state=\"" << s << "\"} " << (it == by_state_.end() ? 0 : it->second) << "\n";
  }
  int not_in_force = 0;
  for (const auto& m : mitigations_) not_in_force += m.not_in_force ? 1 : 0;
  o << "# HELP mitigd_mitigations_not_in_force Applicable mitigations not in force (failed, waiting, pending, invalid) "
       "and reverts that failed.\n# TYPE mitigd_mitigations_not_in_force gauge\n"
    << "mitigd_mitigations_not_in_force " << (have_states_ ? not_in_force : 0) << "\n";
  o << "# HELP mitigd_mitigation_not_in_force 1 for each mitigation that should hold and does not, by state and cause.\n"
       "# TYPE mitigd_mitigation_not_in_force gauge\n";
  for (const auto& m : mitigations_) {
    if (!m.not_in_force) continue;
    o << "mitigd_mitigation_not_in_force{id=\"" << m.id << "\",state=\"" << m.state << "\",cause=\""
      << (m.cause.empty() ? "none" : m.cause) << "\"} 1\n";
  }
  o << "# HELP mitigd_mitigation_next_attempt_timestamp_seconds When a failed or waiting mitigation is tried again.\n"
       "# TYPE mitigd_mitigation_next_attempt_timestamp_seconds gauge\n";
  for (const auto& m : mitigations_) {
    if (m.next_attempt) {
      o << "mitigd_mitigation_next_attempt_timestamp_seconds{id=\"" << m.id << "\"} "
        << m.next_attempt->time_since_epoch().count() << "\n";
    }
  }
}

void Metrics::set_rule_source(std::string counters_url, std::map<std::string, RuleOrigin> origins) {
  counters_url_ = std::move(counters_url);
  origins_ = std::move(origins);
}

// The module's counters, read now (loopback, 1 s deadline): a rule of a mitigation no longer
// loaded keeps its id as the action name, so that no count disappears while nginx still has it.
void Metrics::render_rule_matches(std::ostream& o) const {
  if (counters_url_.empty()) return;
  auto counters = read_rule_counters(counters_url_);
  o << "# HELP mitigd_rule_counters_up 1 when the nginx module's rule counters could be read.\n"
       "# TYPE mitigd_rule_counters_up gauge\nmitigd_rule_counters_up " << (counters ? 1 : 0) << "\n";
  if (!counters) return;
  o << "# HELP mitigd_rule_matches_total Requests each rule matched (enforce: answered; detect: let through), since nginx started.\n"
       "# TYPE mitigd_rule_matches_total counter\n";
  for (const RuleCounter& c : *counters) {
    auto it = origins_.find(c.rule);
    std::string mitigation = it != origins_.end() ? it->second.mitigation : c.rule.substr(0, c.rule.find('#'));
    std::string action = it != origins_.end() ? it->second.action : c.rule;
    o << "mitigd_rule_matches_total{mitigation=\"" << mitigation << "\",action=\"" << prometheus_label(action)
      << "\",mode=\"" << c.mode << "\"} " << c.matches << "\n";
  }
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
  render_mitigations(o);
  render_rule_matches(o);
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
