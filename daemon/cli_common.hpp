#pragma once
// What every mitigctl command shares: the global options, loading config, inputs and state, and
// printing. Each command group lives in its own file (cli_*.cpp) and is listed in the command table
// of mitigctl.cpp.
#include "daemon/cli_args.hpp"
#include "daemon/engine.hpp"
#include "reconcilers/prober.hpp"

#include <boost/json/value.hpp>

#include <memory>
#include <string>

namespace mitigd {

SysSeconds now_seconds();
std::string actor();
void print_json(const boost::json::value& v);

struct Cli {
  std::string config_path;
  bool json_out = false;
  Config config();
};

struct Loaded {
  ProcessRunner runner;
  HttpProber prober;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<state::Store> store;
};

// Config, state and inputs; refresh_feed runs the online feed update when nothing else writes.
std::unique_ptr<Loaded> load_all(Cli& cli, bool refresh_feed = false);

// Policy-file typos and refused manifests, printed loudly on stderr (text output only).
void print_warnings(const Cli& cli, const std::vector<std::string>& warnings);
std::vector<std::string> input_warning_lines(const Inputs& inputs);

// Commands, one group per file.
int cmd_plan(Cli& cli, const Args& args);
int cmd_apply(Cli& cli, const Args& args);
int cmd_retry(Cli& cli, const Args& args);
int cmd_revert_all(Cli& cli, const Args& args);
int cmd_explain(Cli& cli, const Args& args);
int cmd_status(Cli& cli, const Args& args);
int cmd_report(Cli& cli, const Args& args);
int cmd_audit(Cli& cli, const Args& args);
int cmd_validate(Cli& cli, const Args& args);
int cmd_validate_manifests(Cli& cli, const Args& args);
int cmd_rules(Cli& cli, const Args& args);
int cmd_import(Cli& cli, const Args& args);
int cmd_policy_edit(Cli& cli, const std::string& command, const Args& args);
int cmd_check(Cli& cli, const Args& args);
int cmd_setup(Cli& cli, const Args& args);
// The running daemon, through its control socket (the writer lock holder; and the only way in for a
// member of the control group, who cannot read the private state dir).
bool daemon_reachable(const Config& config);
bool state_is_private(const Config& config);  // this user cannot open the state database
struct ControlRequest;
int via_daemon(Cli& cli, const Config& config, const ControlRequest& request);
// apply and retry refuse, with check's messages, when the wiring would make them fail halfway.
void refuse_on_blocking_problems(const Config& config);

}  // namespace mitigd
