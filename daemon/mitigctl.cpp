// mitigctl: the operator's command line. One table lists every command with its own options and
// help; the commands live in cli_*.cpp by group.
// Exit codes: 0 success (plan --detailed-exitcode: nothing to do), 1 error, 2 changes pending.
#include "daemon/cli_common.hpp"
#include "daemon/feed_cli.hpp"

#include <cstdlib>
#include <functional>
#include <iostream>
#include <set>

namespace mitigd {
namespace {

struct Command {
  const char* name;
  const char* synopsis;  // the options, as in the usage line
  const char* help;      // what it does
  std::set<std::string> values;  // options that take a value
  std::set<std::string> flags;
  std::function<int(Cli&, const Args&)> run;
};

int policy_edit(const char* command, Cli& cli, const Args& args) { return cmd_policy_edit(cli, command, args); }

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"plan", "[--detailed-exitcode] [--out FILE] [--offline]",
       "Show what apply would change (the dry-run diff) and every mitigation that is not in force.\n"
       "--detailed-exitcode: exit 0 when converged, 2 while anything is to change or any applicable\n"
       "mitigation is not in force (failed, waiting, pending, invalid), 1 on error.\n"
       "--out FILE saves the plan for `apply --plan FILE`. --offline: no feed refresh.",
       {"--out"}, {"--detailed-exitcode", "--offline"}, cmd_plan},
      {"apply", "[--plan FILE] [--offline]",
       "Converge the server now (through the daemon when it runs). Exit 1 when any mitigation could not be\n"
       "put in force; the summary lists each with the reason and its next attempt. --plan FILE applies a\n"
       "reviewed plan and is refused when the server changed since.",
       {"--plan"}, {"--offline"}, cmd_apply},
      {"retry", "[ID...]",
       "Forget the failure state and backoff of these mitigations (all, without ids) and reconcile now\n"
       "(through the daemon when it runs).",
       {}, {}, cmd_retry},
      {"revert-all", "[--web]",
       "Revert every mitigation mitigd applied (rule files, services, app pools), whatever the policy says:\n"
       "before removing mitigd (the package's prerm runs it). --web: only the mitigations that hold a web\n"
       "rule file (the module package's prerm runs it). The daemon must be stopped. Exit 0 when nothing\n"
       "in scope is left in the ledger afterwards.",
       {}, {"--web"}, cmd_revert_all},
      {"check", "[--offline]",
       "Check the wiring of this server: config, inventory and policy, the include dirs (present, writable by\n"
       "root only), the include lines in the server block behind probe_url and in the http block, the\n"
       "module or set-misc, pcre_jit, the validate and reload commands, the live config, probe_url, D-Bus,\n"
       "the feed's trusted root. Each problem comes with its fix. Exit 1 on any problem. --offline: run nothing.",
       {}, {"--offline"}, cmd_check},
      {"setup", "nginx|apache [--site FILE] [--dry-run] [--undo]",
       "Connect this server's web server to mitigd: create the include dirs; nginx: the http-level include\n"
       "(a conf.d file) and the include line in the one server block that answers probe_url; apache: the\n"
       "include as the first line of the one <VirtualHost> that answers it (--site FILE chooses among\n"
       "several). Backs up each edited file into the state dir, validates, reloads, and puts\n"
       "everything back when validation fails. Idempotent. --dry-run prints what it would do. --undo takes\n"
       "out exactly what setup added (refused while rule files are in force); the package's prerm runs it.",
       {"--site"}, {"--dry-run", "--undo"}, cmd_setup},
      {"explain", "ID", "The decision chain for one mitigation.", {}, {}, cmd_explain},
      {"status", "", "Every mitigation of this server by state, with reasons and next attempts; feed health.", {}, {}, cmd_status},
      {"report", "--csv FILE", "Every mitigation of this server as CSV (FILE), or JSON with -o json.", {"--csv"}, {}, cmd_report},
      {"audit", "[verify] [--since T] [--until T] [--mitigation ID] [--event E] [--text S]",
       "The hash-chained audit log, filtered; `audit verify` checks the chain.",
       {"--since", "--until", "--mitigation", "--event", "--text"}, {}, cmd_audit},
      {"validate", "DIR [--host HOST]...",
       "Check a policy repository (for its CI). With --host, warn when servers/ has policy files but none\n"
       "for that host (a mistyped host name silently drops that server's blocks).",
       {"--host"}, {}, cmd_validate},
      {"validate-manifests", "DIR", "Check a directory of manifests.", {}, {}, cmd_validate_manifests},
      {"rules", "render MANIFEST [--server nginx|apache] [--engine config|module] [--inventory FILE]\n"
                "      | test MANIFEST --requests FILE [--live URL | --server nginx|apache] [--inventory FILE] [--cost]",
       "The exact config a manifest becomes, or its verdicts on test requests: offline with the semantics of\n"
       "--server (nginx by default: the nginx module's rule core; apache: repeated headers joined, %00 in a\n"
       "decoded input fails closed, a regex error is no match), or --live URL against a real server. Also\n"
       "each rule's worst case, and whether the prefilter gates it or it runs on every request. --cost:\n"
       "each rule's measured cost per request on these requests (the module's code, 1,000 rounds).",
       {"--server", "--engine", "--inventory", "--requests", "--live"}, {"--cost"}, cmd_rules},
      {"import", "crowdsec|modsecurity FILE --product NAME --fixed-in VERSION [--min VERSION] [--id ID] [--title TEXT] [--detect]",
       "A foreign virtual patch as a mitigd manifest on stdout: a CrowdSec AppSec rule (YAML) or ModSecurity\n"
       "SecRule lines with chains. Whatever mitigd cannot express exactly (libinjection, regex selectors,\n"
       "exclusions, unknown transforms...) is refused by name, with its place, and nothing is written.\n"
       "--detect imports it in detect mode (matches are counted, nothing is blocked).",
       {"--product", "--fixed-in", "--min", "--id", "--title"}, {"--detect"}, cmd_import},
      {"block", "ID... [--org | --server HOST [--create]] [--reason TEXT] [--until DATE] [--by NAME] | --clear",
       "Add ids to a blocklist in the policy files (for the operator to review and commit). Without --org,\n"
       "the server file of this host. --until must be in the future; --server HOST for a host without a\n"
       "file needs --create. An id no known manifest carries is allowed, with a warning.",
       {"--server", "--reason", "--until", "--by"}, {"--org", "--clear", "--create"},
       [](Cli& c, const Args& a) { return policy_edit("block", c, a); }},
      {"unblock", "ID... [--org | --server HOST]", "Remove ids from a blocklist.", {"--server"}, {"--org"},
       [](Cli& c, const Args& a) { return policy_edit("unblock", c, a); }},
      {"enable", "[--org | --server HOST [--create]]", "MitigationsEnabled on, for the org or one server.", {"--server"},
       {"--org", "--create"}, [](Cli& c, const Args& a) { return policy_edit("enable", c, a); }},
      {"disable", "[--org | --server HOST [--create]]", "MitigationsEnabled off, for the org or one server.", {"--server"},
       {"--org", "--create"}, [](Cli& c, const Args& a) { return policy_edit("disable", c, a); }},
  };
  return table;
}

void usage(std::ostream& out) {
  out << "usage: mitigctl [--config FILE] COMMAND [OPTIONS] [-o text|json]\n\nCommands:\n";
  for (const auto& c : commands()) out << "  " << c.name << " " << c.synopsis << "\n";
  out << "  feed keygen|init|add|remove|set-role|publish|verify|client ...   (mitigctl feed --help)\n\n"
         "`mitigctl COMMAND --help` describes one command. The config defaults to /etc/mitigd/mitigd.json\n"
         "(or $MITIGD_CONFIG). Exit codes: 0 success, 1 error, 2 changes pending (plan --detailed-exitcode).\n";
}

int run(int argc, char** argv) {
  std::vector<std::string> all(argv + 1, argv + argc);
  Cli cli;
  const char* env = std::getenv("MITIGD_CONFIG");
  cli.config_path = env ? env : "/etc/mitigd/mitigd.json";
  std::size_t i = 0;
  for (; i < all.size(); ++i) {  // global options come before the command
    if (all[i] == "--config" && i + 1 < all.size()) {
      cli.config_path = all[++i];
    } else if (all[i].starts_with("--config=")) {
      cli.config_path = all[i].substr(9);
    } else if (all[i] == "-h" || all[i] == "--help") {
      usage(std::cout);
      return 0;
    } else if (all[i] == "--version") {
      std::cout << "mitigctl " MITIGD_VERSION "\n";
      return 0;
    } else {
      break;
    }
  }
  if (i >= all.size()) {
    usage(std::cerr);
    return 1;
  }
  std::string name = all[i];
  std::vector<std::string> rest(all.begin() + static_cast<long>(i) + 1, all.end());
  if (name == "feed") return run_feed_command(rest, false);
  for (const auto& c : commands()) {
    if (name != c.name) continue;
    if (std::find(rest.begin(), rest.end(), "--help") != rest.end() || std::find(rest.begin(), rest.end(), "-h") != rest.end()) {
      std::cout << "usage: mitigctl " << c.name << " " << c.synopsis << " [-o text|json]\n\n" << c.help << "\n";
      return 0;
    }
    auto values = c.values;
    values.insert({"--output", "--config"});
    Args args(rest, values, c.flags);
    if (auto config = args.value("--config")) cli.config_path = *config;
    std::string output = args.value("--output").value_or("text");
    if (output != "text" && output != "json") throw UsageError("-o text|json");
    cli.json_out = output == "json";
    return c.run(cli, args);
  }
  throw UsageError("unknown command " + name);
}

}  // namespace
}  // namespace mitigd

int main(int argc, char** argv) {
  try {
    return mitigd::run(argc, argv);
  } catch (const mitigd::UsageError& e) {
    std::cerr << "mitigctl: " << e.what() << "\n(see mitigctl --help)\n";
    return 1;
  } catch (const mitigd::ErrorException& e) {
    std::cerr << "mitigctl: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mitigctl: " << e.what() << "\n";
    return 1;
  }
}
