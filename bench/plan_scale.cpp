// bench/plan_scale: wall time and peak RSS to parse, evaluate and plan 1k, 10k and 100k manifests
// (5 actions each, 1% blocked, half of them already applied and observed in force).
// Each size runs in its own child process so its peak RSS is its own.
// Target (issue #2): 10k in under 1 s and 200 MB; growth near-linear (ratios printed).
#include "reconcilers/plan.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace mitigd;
using Clock = std::chrono::steady_clock;

namespace {

std::string manifest_text(int i) {
  std::string id = "B" + std::to_string(i);
  std::string actions;
  for (int a = 0; a < 5; ++a) {
    if (a) actions += ",";
    actions += "{\"kind\":\"rewrite_rule\",\"name\":\"rule " + std::to_string(a) +
               "\",\"when\":[{\"input\":\"request_uri\",\"decode\":true,\"pattern\":\"(?=.*app)(?=.*exploit" +
               std::to_string(i % 997) + ")\"}],\"respond\":\"abort\",\"scope\":\"/app/\"}";
  }
  return "{\"schema\":1,\"id\":\"" + id + "\",\"revision\":1,\"title\":\"benchmark mitigation " + std::to_string(i) +
         "\",\"cves\":[\"CVE-2026-10001\"],\"applies_to\":{\"product\":\"exchange\",\"min\":\"15.0.0.0\","
         "\"fixed_in\":\"15.2.1118.20\"},\"actions\":[" + actions + "]}";
}

struct Measurement {
  double parse_ms, plan_ms;
  long rss_kb;
  std::size_t steps;
};

Measurement run(int n) {
  std::vector<std::string> texts;
  texts.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) texts.push_back(manifest_text(i));

  auto t0 = Clock::now();
  std::vector<Manifest> manifests;
  manifests.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto m = parse_manifest("bench.json", texts[i]);
    if (!m) {
      std::fprintf(stderr, "%s\n", m.error().message.c_str());
      std::exit(1);
    }
    manifests.push_back(std::move(*m));
  }
  texts.clear();
  texts.shrink_to_fit();
  auto t1 = Clock::now();

  Policy policy;
  policy.host = "bench";
  for (int i = 0; i < n; i += 100) policy.org.blocked.push_back({"B" + std::to_string(i), "benchmark", "", {}, {}});
  Inventory inventory;
  inventory.host = "bench";
  inventory.products["exchange"] = Product{"exchange", VersionScheme::dotted, {}};
  inventory.web_server = WebServer{};
  std::vector<state::LedgerRecord> ledger;
  ObservedState observed;
  for (int i = 0; i < n; i += 2) {
    for (int a = 0; a < 5; ++a) {
      state::LedgerRecord r;
      r.row = static_cast<std::int64_t>(ledger.size()) + 1;
      r.mitigation_id = "B" + std::to_string(i);
      r.revision = 1;
      r.action_index = a;
      r.kind = "rewrite_rule";
      r.resource = "web:" + r.mitigation_id;
      r.phase = "applied";
      ledger.push_back(r);
      observed.actions[{r.mitigation_id, a}] = {ObservedAction::State::in_force, ""};
    }
  }
  auto t2 = Clock::now();
  DesiredInputs in;
  in.manifests = &manifests;
  in.policy = &policy;
  in.inventory = &inventory;
  in.installed["exchange"] = {std::string("15.2.1118.7"), "bench", ""};
  for (const auto& r : ledger) in.in_ledger[r.mitigation_id] = r.revision;
  in.now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  Plan plan = make_plan(evaluate_desired(in), observed, ledger, inventory, Mode::enforce);
  auto t3 = Clock::now();

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {std::chrono::duration<double, std::milli>(t1 - t0).count(),
          std::chrono::duration<double, std::milli>(t3 - t2).count(), ru.ru_maxrss, plan.steps.size()};
}

}  // namespace

int main() {
  std::printf("plan_scale: parse + evaluate + plan, 5 actions per manifest, 1%% blocked, half applied\n");
  std::printf("%9s %12s %12s %12s %12s %10s\n", "manifests", "parse ms", "plan ms", "total ms", "peak RSS MB", "steps");
  std::vector<double> totals;
  for (int n : {1000, 10000, 100000}) {
    std::fflush(stdout);
    int fds[2];
    if (pipe(fds) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      Measurement r = run(n);
      if (write(fds[1], &r, sizeof r) != sizeof r) _exit(1);
      _exit(0);
    }
    close(fds[1]);
    Measurement r{};
    if (read(fds[0], &r, sizeof r) != sizeof r) return 1;
    close(fds[0]);
    waitpid(pid, nullptr, 0);
    double total = r.parse_ms + r.plan_ms;
    totals.push_back(total);
    std::printf("%9d %12.1f %12.1f %12.1f %12.1f %10zu\n", n, r.parse_ms, r.plan_ms, total, r.rss_kb / 1024.0, r.steps);
  }
  std::printf("growth: 10k/1k = %.1fx, 100k/10k = %.1fx (linear would be 10x)\n", totals[1] / totals[0], totals[2] / totals[1]);
  std::printf("target: 10k under 1000 ms and 200 MB\n");
  return 0;
}
