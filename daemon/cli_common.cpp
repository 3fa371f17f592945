#include "daemon/cli_common.hpp"

#include "daemon/audit_journal.hpp"
#include "state/writer_lock.hpp"

#include <boost/json.hpp>
#include <csignal>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace mitigd {
namespace json = boost::json;

Config Cli::config() {
  auto c = load_config(config_path);
  if (!c) {
    Error e = c.error();
    if (e.code == Errc::not_found || e.message.find("cannot read") != std::string::npos) {
      e.message += " (give the config with --config FILE or MITIGD_CONFIG; examples/mitigd.json is a start)";
    }
    throw ErrorException(e);
  }
  return *c;
}

std::vector<std::string> input_warning_lines(const Inputs& inputs) {
  std::vector<std::string> out = inputs.policy.warnings;
  for (const auto& bad : inputs.manifests.invalid) {
    out.push_back("manifest " + bad.id + " refused (" + bad.source + "): " + bad.error + " — every other manifest proceeds");
  }
  for (const auto& note : inputs.manifests.notes) out.push_back("manifest refused: " + note);
  return out;
}

void print_warnings(const Cli& cli, const std::vector<std::string>& warnings) {
  if (cli.json_out) return;
  for (const auto& w : warnings) std::cerr << "mitigctl: WARNING: " << w << "\n";
}

SysSeconds now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::string actor() { return "mitigctl (uid " + std::to_string(::getuid()) + ")"; }

void print_json(const json::value& v) { std::cout << json::serialize(v) << "\n"; }
std::unique_ptr<Loaded> load_all(Cli& cli, bool refresh_feed) {
  auto l = std::make_unique<Loaded>();
  Config config = cli.config();
  l->engine = std::make_unique<Engine>(config, l->runner, l->prober);
  // Fault injection for the crash-safety test only: SIGKILL at the Nth checkpoint.
  if (const char* kill_at = std::getenv("MITIGD_TEST_KILL_AT")) {
    long target = std::atol(kill_at);
    // One counter for every copy of the hook (the driver and the applier each hold one).
    auto reached = std::make_shared<long>(0);
    l->engine->set_checkpoint([target, reached](std::string_view point) {
      if (++*reached == target) {
        std::cerr << "killed at checkpoint " << *reached << ": " << point << "\n";
        ::raise(SIGKILL);
      }
    });
  }
  l->store = state::Store::open(config.state_db);
  attach_audit_journal(*l->store, "mitigctl");
  // The TUF feed is refreshed online only when nothing else is writing (a running daemon keeps
  // it fresh itself); --offline uses only what is already verified.
  bool online = false;
  if (refresh_feed && config.feed) {
    std::string holder;
    online = static_cast<bool>(state::WriterLock::try_acquire(config.state_db, &holder));
  }
  if (auto r = l->engine->load(l->store.get(), online); !r) throw ErrorException(r.error());
  if (const auto& fs = l->engine->feed_status(); fs && fs->online_attempted && !fs->error.empty() && !cli.json_out) {
    std::cerr << "mitigctl: warning: feed not refreshed, using the last verified state: " << fs->error << "\n";
  }
  return l;
}

}  // namespace mitigd
