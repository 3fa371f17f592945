#pragma once
// Per-rule match counters of the nginx module (shared memory, served over loopback by the
// `mitigd_counters` location of the prelude): how often each rule matched, in enforce or detect
// mode. Read by the daemon for mitigd_rule_matches_total and by `mitigctl status`.
#include "policies/error.hpp"
#include "policies/manifest.hpp"
#include "reconcilers/prober.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mitigd {

inline constexpr const char* kCountersPath = "/.well-known/mitigd/counters";

struct RuleCounter {
  std::string rule;  // the module's rule id: MITIGATION#ACTION_INDEX
  std::string mode;  // enforce | detect
  std::uint64_t matches = 0;
};

// "ID MODE COUNT" lines (comments start with '#'); a malformed line is an error naming it.
Result<std::vector<RuleCounter>> parse_rule_counters(std::string_view text);
// GET probe_url + kCountersPath with the prober's deadline and a bounded body.
Result<std::vector<RuleCounter>> read_rule_counters(const std::string& probe_url);

// Where a rule id comes from: the mitigation and its action's name.
struct RuleOrigin {
  std::string mitigation, action;
};
std::map<std::string, RuleOrigin> rule_origins(const std::vector<Manifest>& manifests);

// Matches summed by mitigation (for status), over the counters of rules that mitigation has.
struct MitigationHits {
  std::uint64_t enforce = 0, detect = 0;
};
std::map<std::string, MitigationHits> hits_by_mitigation(const std::vector<RuleCounter>& counters);

}  // namespace mitigd
