// mitigctl plan, apply, retry, explain: the dry-run diff and the one reconcile.
#include "daemon/cli_common.hpp"
#include "daemon/control_protocol.hpp"
#include "daemon/reconcile.hpp"
#include "policies/json_input.hpp"
#include "state/writer_lock.hpp"

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include <cerrno>
#include <unistd.h>

namespace mitigd {
namespace json = boost::json;

namespace {

void print_plan_text(const Plan& plan, const std::string& host) {
  int applies = 0, reverts = 0, repairs = 0;
  for (const Step& s : plan.steps) {
    if (s.op == Step::Op::apply) ++applies;
    else if (s.op == Step::Op::repair) ++repairs;
    else ++reverts;
  }
  std::cout << "Plan for " << host << " (mode " << to_string(plan.mode) << ", digest " << plan.digest.substr(0, 12)
            << ")\n\n";
  for (const Decision& d : plan.decisions) {
    std::cout << d.id << " r" << d.revision;
    if (d.manifest) std::cout << "  " << d.manifest->title.substr(0, d.manifest->title.find('\n'));
    std::cout << "\n  status: " << to_string(d.status) << " — " << d.summary << "\n";
    for (const Step& s : plan.steps) {
      if (s.mitigation_id != d.id) continue;
      std::cout << "  " << symbol(s.op) << " " << to_string(s.op) << " " << s.kind << " \"" << s.action_name << "\" -> "
                << s.target << "\n";
      if (s.reason != d.summary) std::cout << "      because " << s.reason << "\n";
    }
    std::cout << "\n";
  }
  for (const Step& s : plan.steps) {
    if (s.op == Step::Op::remove_orphan) std::cout << "- remove " << s.target << ": " << s.reason << "\n";
  }
  std::cout << "Plan: " << applies << " to apply, " << reverts << " to revert, " << repairs << " to repair.";
  if (plan.mode == Mode::dry_run) std::cout << " Mode is dry-run: apply changes nothing.";
  std::cout << "\n";
}


// What is not in force, with why and when it is tried again: the tail of plan, apply and status.
void print_not_in_force(const std::vector<MitigationState>& states) {
  bool header = false;
  for (const auto& m : states) {
    if (!m.not_in_force) continue;
    if (!header) std::cout << "\nNOT IN FORCE:\n";
    header = true;
    std::cout << "  " << m.id << " r" << m.revision << "  " << m.state << (m.cause.empty() ? "" : " (" + m.cause + ")")
              << (m.attempts ? ", " + std::to_string(m.attempts) + " attempt(s)" : "")
              << (m.next_attempt ? ", next attempt " + format_utc(*m.next_attempt) : "") << "\n    " << m.reason << "\n";
  }
}


std::optional<std::string> saved_plan_digest(const std::string& saved) {
  auto text = json_input::read_file_capped(saved, 64 * 1024 * 1024);
  if (!text) throw ErrorException(text.error());
  auto doc = json_input::parse(saved, *text);
  if (!doc) throw ErrorException(doc.error());
  const json::value* digest = doc->is_object() ? doc->as_object().if_contains("digest") : nullptr;
  if (!digest || !digest->is_string()) {
    throw ErrorException(make_error(Errc::invalid_input, saved + ": digest: expected the digest of a saved plan"));
  }
  return std::string(digest->as_string());
}

void print_run(const RunReport& r) {
  for (const auto& s : r.outcome.lines) std::cout << s << "\n";
  if (!r.error.empty()) std::cout << "error: " << r.error << "\n";
  print_not_in_force(r.mitigations);
  std::cout << "Applied " << r.outcome.applied << ", reverted " << r.outcome.reverted << ", repaired " << r.outcome.repaired
            << ", failed " << r.outcome.failed << ", waiting " << r.outcome.waiting << ".";
  int not_in_force = 0;
  for (const auto& m : r.mitigations) not_in_force += m.not_in_force ? 1 : 0;
  if (not_in_force) std::cout << " " << not_in_force << " mitigation(s) NOT IN FORCE (see above; `mitigctl retry` retries now).";
  else if (r.error.empty()) std::cout << " Converged.";
  std::cout << "\n";
}

}  // namespace

// The daemon holds the writer lock while it runs: ask it, and print its run.
int via_daemon(Cli& cli, const Config& config, const ControlRequest& request) {
  auto answer = control_request(config.control_socket, request, 300);
  if (!answer) throw ErrorException(answer.error());
  const json::object& o = answer->as_object();
  if (cli.json_out) {
    print_json(*answer);
  } else {
    if (const auto* lines = o.if_contains("lines")) {
      for (const auto& line : lines->as_array()) std::cout << line.as_string().c_str() << "\n";
    }
    if (const auto* e = o.if_contains("error")) std::cout << "error: " << e->as_string().c_str() << "\n";
    if (const auto* ms = o.if_contains("mitigations")) {
      for (const auto& m : ms->as_array()) {
        const auto& mo = m.as_object();
        if (!mo.at("not_in_force").as_bool()) continue;
        std::cout << "NOT IN FORCE: " << mo.at("id").as_string().c_str() << " " << mo.at("state").as_string().c_str()
                  << ": " << mo.at("reason").as_string().c_str() << "\n";
      }
    }
    std::cout << "(run " << json::serialize(o.at("run")) << " of the mitigd daemon, via " << config.control_socket << ")\n";
  }
  const auto* converged = o.if_contains("converged");
  return o.at("ok").as_bool() && (!converged || converged->as_bool()) ? 0 : 1;
}

bool daemon_reachable(const Config& config) {
  return !config.control_socket.empty() && std::filesystem::exists(config.control_socket);
}

bool state_is_private(const Config& config) {
  std::error_code ec;
  auto dir = std::filesystem::path(config.state_db).parent_path();
  if (!std::filesystem::exists(dir, ec) && !ec) return false;  // not created yet: the command says so
  return ::access(dir.c_str(), R_OK | X_OK) != 0 && errno == EACCES;
}

int cmd_plan(Cli& cli, const Args& args) {
  auto l = load_all(cli, !args.flag("--offline"));
  print_warnings(cli, input_warning_lines(l->engine->inputs()));
  Plan plan = l->engine->plan(*l->store, now_seconds());
  json::value doc = plan_to_json(plan, l->engine->inputs().inventory.host);
  if (auto out = args.value("--out")) {
    std::ofstream f(*out, std::ios::trunc);
    f << json::serialize(doc) << "\n";
    if (!f) throw ErrorException(make_error(Errc::io, *out + ": cannot write the plan"));
  }
  auto states = mitigation_states(plan, l->store->ledger());
  bool short_of_desired = false;
  for (const auto& m : states) short_of_desired = short_of_desired || m.not_in_force;
  if (cli.json_out) {
    print_json(doc);
  } else {
    print_plan_text(plan, l->engine->inputs().inventory.host);
    print_not_in_force(states);
  }
  // 2 while anything is to change or anything that should hold does not (failed, waiting, invalid).
  if (args.flag("--detailed-exitcode")) return plan.empty() && !short_of_desired ? 0 : 2;
  return 0;
}

int cmd_apply(Cli& cli, const Args& args) {
  if (Config config = cli.config(); !args.value("--plan") && state_is_private(config) && daemon_reachable(config)) {
    return via_daemon(cli, config, {"reconcile", {}});
  }
  auto l = load_all(cli, !args.flag("--offline"));
  print_warnings(cli, input_warning_lines(l->engine->inputs()));
  std::string holder;
  auto lock = state::WriterLock::try_acquire(l->store->path(), &holder);
  if (!lock) {
    if (!args.value("--plan") && daemon_reachable(l->engine->config())) {
      return via_daemon(cli, l->engine->config(), {"reconcile", {}});
    }
    throw ErrorException(make_error(Errc::conflict, "another writer is changing this server (" + holder +
                                                        "); try again when it has finished"));
  }
  refuse_on_blocking_problems(l->engine->config());
  RunRequest request{"mitigctl apply", actor(), false, false, std::nullopt};
  if (auto saved = args.value("--plan")) request.expected_digest = saved_plan_digest(*saved);
  RunReport r = reconcile(*l->engine, *l->store, request);
  if (cli.json_out) print_json(run_report_json(r));
  else if (r.mode == Mode::dry_run) std::cout << "mode is dry-run: nothing was changed\n";
  else print_run(r);
  if (r.mode == Mode::dry_run && r.error.empty()) return 0;
  return r.converged() ? 0 : 1;
}

int cmd_revert_all(Cli& cli, const Args& args) {
  auto l = load_all(cli, false);
  std::string holder;
  auto lock = state::WriterLock::try_acquire(l->store->path(), &holder);
  if (!lock) {
    throw ErrorException(make_error(Errc::conflict, "another writer holds the state (" + holder +
                                                        "): stop the daemon first (systemctl stop mitigd)"));
  }
  RunRequest request{"mitigctl revert-all", actor(), false, false, std::nullopt};
  const bool web_only = args.flag("--web");
  request.revert = web_only ? RevertScope::web : RevertScope::all;
  RunReport r = reconcile(*l->engine, *l->store, request);
  auto left = l->store->ledger();
  if (web_only) std::erase_if(left, [](const state::LedgerRecord& row) { return !row.resource.starts_with("web:"); });
  if (cli.json_out) {
    print_json(run_report_json(r));
  } else {
    for (const auto& s : r.outcome.lines) std::cout << s << "\n";
    if (!r.error.empty()) std::cout << "error: " << r.error << "\n";
    std::cout << (left.empty() ? (web_only ? "No web rule mitigd applied is left on this server.\n"
                                           : "Nothing mitigd applied is left on this server.\n")
                               : std::to_string(left.size()) + " ledger row(s) could not be reverted; see above.\n");
  }
  return left.empty() && r.error.empty() ? 0 : 1;
}

int cmd_retry(Cli& cli, const Args& args) {
  const auto& ids = args.positional();
  for (const auto& id : ids) {
    if (!is_valid_mitigation_id(id)) throw UsageError(id + ": not a mitigation id");
  }
  Config config = cli.config();
  std::string holder;
  auto lock = state::WriterLock::try_acquire(config.state_db, &holder);
  if (!lock) {
    if (daemon_reachable(config)) return via_daemon(cli, config, {"retry", ids});
    throw ErrorException(make_error(Errc::conflict, "another writer is changing this server (" + holder + ")"));
  }
  auto l = load_all(cli, false);
  clear_failures(*l->store, ids, actor());
  RunReport r = reconcile(*l->engine, *l->store, RunRequest{"mitigctl retry", actor(), false, false, std::nullopt});
  if (cli.json_out) print_json(run_report_json(r));
  else print_run(r);
  return r.converged() ? 0 : 1;
}

int cmd_explain(Cli& cli, const Args& args) {
  if (args.positional().size() != 1) throw UsageError("explain takes one mitigation id");
  const std::string& id = args.positional()[0];
  auto l = load_all(cli);
  Plan plan = l->engine->plan(*l->store, now_seconds());
  for (const Decision& d : plan.decisions) {
    if (d.id != id) continue;
    if (cli.json_out) {
      json::object o;
      o["id"] = d.id;
      o["revision"] = d.revision;
      o["status"] = to_string(d.status);
      o["want"] = to_string(d.want);
      json::array chain;
      for (const auto& r : d.reasons) chain.push_back(json::string(r));
      o["reasons"] = std::move(chain);
      print_json(o);
    } else {
      std::cout << d.id << " revision " << d.revision << ": " << to_string(d.status) << "\n";
      for (std::size_t i = 0; i < d.reasons.size(); ++i) std::cout << "  " << i + 1 << ". " << d.reasons[i] << "\n";
      for (const Step& s : plan.steps) {
        if (s.mitigation_id == id) std::cout << "  next: " << symbol(s.op) << " " << to_string(s.op) << " " << s.target << "\n";
      }
    }
    return 0;
  }
  throw ErrorException(make_error(Errc::not_found, "no mitigation " + id + " in the manifests or the ledger"));
}

}  // namespace mitigd
