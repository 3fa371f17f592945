#include "reconcilers/rule_counters.hpp"

#include <charconv>
#include <sstream>

namespace mitigd {

Result<std::vector<RuleCounter>> parse_rule_counters(std::string_view text) {
  std::vector<RuleCounter> out;
  std::istringstream in{std::string(text)};
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    RuleCounter c;
    std::string count, extra;
    if (!(words >> c.rule >> c.mode >> count) || (words >> extra) || (c.mode != "enforce" && c.mode != "detect") ||
        c.rule.find('#') == std::string::npos) {
      return make_error(Errc::invalid_input, "rule counters, line " + std::to_string(n) + ": expected \"ID MODE COUNT\"");
    }
    auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), c.matches);
    if (ec != std::errc{} || end != count.data() + count.size()) {
      return make_error(Errc::invalid_input, "rule counters, line " + std::to_string(n) + ": COUNT is not a number");
    }
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<RuleCounter>> read_rule_counters(const std::string& probe_url) {
  HttpProber prober(std::chrono::milliseconds(1000), 2 * 1024 * 1024);
  auto r = prober.send(probe_url, HttpRequest{"GET", kCountersPath});
  if (!r) return r.error();
  if (r->dropped || r->status != 200) {
    return make_error(Errc::unavailable, probe_url + kCountersPath + ": status " + std::to_string(r->status) +
                                             " (is the nginx module engine serving mitigd's prelude?)");
  }
  return parse_rule_counters(r->body);
}

std::map<std::string, RuleOrigin> rule_origins(const std::vector<Manifest>& manifests) {
  std::map<std::string, RuleOrigin> out;
  for (const Manifest& m : manifests) {
    for (std::size_t i = 0; i < m.actions.size(); ++i) out[m.id + "#" + std::to_string(i)] = {m.id, m.actions[i].name};
  }
  return out;
}

std::map<std::string, MitigationHits> hits_by_mitigation(const std::vector<RuleCounter>& counters) {
  std::map<std::string, MitigationHits> out;
  for (const RuleCounter& c : counters) {
    auto& h = out[c.rule.substr(0, c.rule.find('#'))];
    (c.mode == "detect" ? h.detect : h.enforce) += c.matches;
  }
  return out;
}

}  // namespace mitigd
