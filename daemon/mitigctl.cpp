// mitigctl: plan, apply, explain, status, report, audit, rules, validate.
// Exit codes: 0 success (plan --detailed-exitcode: nothing to do), 1 error, 2 changes pending.
#include "daemon/audit_journal.hpp"
#include "daemon/cli_args.hpp"
#include "daemon/control_protocol.hpp"
#include "daemon/engine.hpp"
#include "daemon/feed_cli.hpp"
#include "policies/json_input.hpp"
#include "policies/policy_edit.hpp"
#include "policies/rule_eval.hpp"
#include "reconcilers/prober.hpp"
#include "state/writer_lock.hpp"

#include <boost/json.hpp>
#include <csignal>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace mitigd {
namespace json = boost::json;
namespace {

constexpr const char* kUsage = R"(usage: mitigctl [--config FILE] COMMAND [OPTIONS]

Commands (every command takes -o json):
  plan [--detailed-exitcode] [--out FILE] [--offline]   show what apply would change (exit 2: changes)
  apply [--plan FILE] [--offline]           apply the plan (refused if FILE is stale)
      (both refresh the signed feed first unless --offline or the daemon is running)
  explain ID                                the decision chain for one mitigation
  status                                    applied, blocked, pending, superseded, failed
  report --csv FILE                         every mitigation of this server as CSV
  audit [--since T] [--until T] [--mitigation ID] [--event E] [--text S]
  audit verify                              check the audit log's hash chain
  validate DIR                              check a policy repository (for its CI)
  validate-manifests DIR                    check a directory of manifests
  rules render MANIFEST --server nginx|apache [--engine config|module] [--inventory FILE]
  rules test MANIFEST --requests FILE [--live URL] [--inventory FILE]
  block ID... [--org | --server HOST] [--reason TEXT] [--until DATE] [--by NAME]
  block --clear [--org | --server HOST]
  unblock ID... [--org | --server HOST]
  feed keygen|init|add|remove|set-role|publish|verify|client ...   (mitigctl feed --help)
  enable | disable [--org | --server HOST]     MitigationsEnabled for the org or one server
      (these edit the policy files in place, for the operator to review and commit;
       without --org the server file of this host is edited)

The config defaults to /etc/mitigd/mitigd.json (or $MITIGD_CONFIG).
)";

SysSeconds now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::string actor() { return "mitigctl (uid " + std::to_string(::getuid()) + ")"; }

void print_json(const json::value& v) { std::cout << json::serialize(v) << "\n"; }

struct Cli {
  std::string config_path;
  bool json_out = false;

  Config config() {
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
};

struct Loaded {
  ProcessRunner runner;
  HttpProber prober;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<state::Store> store;
};

std::unique_ptr<Loaded> load_all(Cli& cli, bool refresh_feed = false) {
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

int cmd_plan(Cli& cli, const Args& args) {
  auto l = load_all(cli, !args.flag("--offline"));
  Plan plan = l->engine->plan(*l->store, now_seconds());
  json::value doc = plan_to_json(plan, l->engine->inputs().inventory.host);
  if (auto out = args.value("--out")) {
    std::ofstream f(*out, std::ios::trunc);
    f << json::serialize(doc) << "\n";
    if (!f) throw ErrorException(make_error(Errc::io, *out + ": cannot write the plan"));
  }
  if (cli.json_out) {
    print_json(doc);
  } else {
    print_plan_text(plan, l->engine->inputs().inventory.host);
  }
  if (args.flag("--detailed-exitcode")) return plan.empty() ? 0 : 2;
  return 0;
}

int cmd_apply(Cli& cli, const Args& args) {
  auto l = load_all(cli, !args.flag("--offline"));
  std::string holder;
  auto lock = state::WriterLock::try_acquire(l->store->path(), &holder);
  if (!lock) {
    // The daemon holds the lock while it runs: ask it to reconcile instead, and report its run.
    const Config& config = l->engine->config();
    if (!args.value("--plan") && !config.control_socket.empty() && std::filesystem::exists(config.control_socket)) {
      auto answer = control_request(config.control_socket, "reconcile", 300);
      if (!answer) throw ErrorException(answer.error());
      const json::object& o = answer->as_object();
      if (cli.json_out) {
        print_json(*answer);
      } else {
        if (const auto* lines = o.if_contains("lines")) {
          for (const auto& line : lines->as_array()) std::cout << line.as_string().c_str() << "\n";
        }
        if (const auto* e = o.if_contains("error")) std::cout << "error: " << e->as_string().c_str() << "\n";
        std::cout << "(run " << json::serialize(o.at("run")) << " of the mitigd daemon, via " << config.control_socket << ")\n";
      }
      return o.at("ok").as_bool() ? 0 : 1;
    }
    throw ErrorException(make_error(Errc::conflict, "another writer is changing this server (" + holder +
                                                        "); try again when it has finished"));
  }
  Plan plan = l->engine->plan(*l->store, now_seconds());
  if (auto saved = args.value("--plan")) {
    auto text = json_input::read_file_capped(*saved, 64 * 1024 * 1024);
    if (!text) throw ErrorException(text.error());
    auto doc = json_input::parse(*saved, *text);
    if (!doc) throw ErrorException(doc.error());
    const json::value* digest = doc->is_object() ? doc->as_object().if_contains("digest") : nullptr;
    if (!digest || !digest->is_string()) {
      throw ErrorException(make_error(Errc::invalid_input, *saved + ": digest: expected the digest of a saved plan"));
    }
    if (digest->as_string() != plan.digest) {
      throw ErrorException(make_error(Errc::conflict, *saved + ": stale plan: the server, the ledger or the inputs changed since it was "
                                                               "made (saved " + std::string(digest->as_string()).substr(0, 12) +
                                                               ", now " + plan.digest.substr(0, 12) + "); run plan again"));
    }
  }
  if (plan.mode == Mode::dry_run) {
    if (!cli.json_out) print_plan_text(plan, l->engine->inputs().inventory.host);
    std::cout << "mode is dry-run: nothing was changed\n";
    return 0;
  }
  std::string run_id = new_run_id();
  l->store->run_begin({run_id, "mitigctl apply", "", "", "", ""});
  ApplyOutcome outcome = l->engine->apply(plan, *l->store, run_id, actor());
  l->store->run_finish(run_id, outcome.ok() ? "ok" : "failed", plan.digest);
  if (cli.json_out) {
    json::object o;
    o["run"] = run_id;
    o["applied"] = outcome.applied;
    o["reverted"] = outcome.reverted;
    o["repaired"] = outcome.repaired;
    o["failed"] = outcome.failed;
    json::array lines;
    for (const auto& s : outcome.lines) lines.push_back(json::string(s));
    o["lines"] = std::move(lines);
    print_json(o);
  } else {
    for (const auto& s : outcome.lines) std::cout << s << "\n";
    std::cout << "Applied " << outcome.applied << ", reverted " << outcome.reverted << ", repaired " << outcome.repaired
              << ", failed " << outcome.failed << ".\n";
  }
  return outcome.ok() ? 0 : 1;
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

int cmd_validate(Cli& cli, const Args& args) {
  if (args.positional().size() != 1) throw UsageError("validate takes the policy repository directory");
  auto errors = validate_policy_dir(args.positional()[0]);
  if (cli.json_out) {
    json::object o;
    o["ok"] = errors.empty();
    json::array arr;
    for (const auto& e : errors) arr.push_back(json::string(e.message));
    o["errors"] = std::move(arr);
    print_json(o);
  } else {
    for (const auto& e : errors) std::cerr << "mitigctl: " << e.message << "\n";
    if (errors.empty()) std::cout << args.positional()[0] << ": policy repository is valid\n";
  }
  return errors.empty() ? 0 : 1;
}

int cmd_validate_manifests(Cli& cli, const Args& args) {
  if (args.positional().size() != 1) throw UsageError("validate-manifests takes a directory");
  auto set = feed::load_manifest_dir(args.positional()[0]);
  if (!set) throw ErrorException(set.error());
  if (cli.json_out) {
    json::object o;
    o["ok"] = true;
    o["manifests"] = set->manifests.size();
    print_json(o);
  } else {
    std::cout << args.positional()[0] << ": " << set->manifests.size() << " manifests are valid\n";
  }
  return 0;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

struct Row {
  std::string id, revision, kind, title, status, since, cves, fixed_in, reason;
};

std::vector<Row> status_rows(Loaded& l, const std::vector<Decision>& decisions) {
  auto ledger = l.store->ledger();
  std::vector<Row> rows;
  for (const Decision& d : decisions) {
    Row r;
    r.id = d.id;
    r.revision = std::to_string(d.revision);
    r.status = to_string(d.status);
    r.reason = d.summary;
    std::string applied_since;
    bool applied = false;
    for (const auto& lr : ledger) {
      if (lr.mitigation_id != d.id) continue;
      applied = true;
      if (applied_since.empty() || lr.recorded_at < applied_since) applied_since = lr.recorded_at;
    }
    if (d.status == Status::applicable) r.status = applied ? "applied" : "pending";
    r.since = applied_since;
    if (d.manifest) {
      r.title = d.manifest->title;
      std::set<std::string> kinds;
      for (const Action& a : d.manifest->actions) kinds.insert(to_string(a.kind));
      for (const auto& k : kinds) r.kind += (r.kind.empty() ? "" : ";") + k;
      for (const auto& c : d.manifest->cves) r.cves += (r.cves.empty() ? "" : ";") + c;
      r.fixed_in = d.manifest->applies_to.fixed_in.value_or("");
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

int cmd_status(Cli& cli, const Args&) {
  auto l = load_all(cli);
  auto decisions = l->engine->decide(*l->store, now_seconds());
  auto rows = status_rows(*l, decisions);
  const Inputs& in = l->engine->inputs();
  if (cli.json_out) {
    json::object o;
    o["host"] = in.inventory.host;
    o["enabled"] = in.policy.enabled();
    o["mode"] = to_string(in.policy.mode());
    json::array arr;
    for (const Row& r : rows) {
      arr.push_back(json::object{{"id", r.id}, {"revision", r.revision}, {"status", r.status}, {"since", r.since},
                                 {"title", r.title}, {"reason", r.reason}});
    }
    o["mitigations"] = std::move(arr);
    if (const auto& fs = l->engine->feed_status()) {
      json::object f;
      f["last_success"] = fs->last_success ? format_utc(*fs->last_success) : "";
      f["expires"] = fs->expires ? format_utc(*fs->expires) : "";
      f["expired"] = fs->expired;
      f["last_error"] = fs->error;
      json::object versions;
      for (const auto& [role, v] : fs->versions) versions[role] = v;
      f["versions"] = std::move(versions);
      o["feed"] = std::move(f);
    }
    print_json(o);
    return 0;
  }
  std::cout << "Server " << in.inventory.host << ": mitigations " << (in.policy.enabled() ? "enabled" : "DISABLED")
            << ", mode " << to_string(in.policy.mode()) << "\n";
  if (const auto& fs = l->engine->feed_status()) {
    auto now = now_seconds();
    auto age = [&](SysSeconds t) {
      auto s = (now - t).count();
      return s < 120 ? std::to_string(s) + " s" : s < 7200 ? std::to_string(s / 60) + " min" : std::to_string(s / 3600) + " h";
    };
    std::cout << "Feed: ";
    if (fs->expired) std::cout << "EXPIRED at " << format_utc(*fs->expires) << " — the last verified mitigations stay in force; ";
    std::cout << "last verified update " << (fs->last_success ? age(*fs->last_success) + " ago" : "never");
    if (fs->expires && !fs->expired) std::cout << ", trusted until " << format_utc(*fs->expires);
    std::cout << " (";
    bool first = true;
    for (const auto& [role, v] : fs->versions) {
      std::cout << (first ? "" : " ") << role << " v" << v;
      first = false;
    }
    std::cout << ")\n";
    if (!fs->error.empty()) std::cout << "  last update FAILED: " << fs->error << "\n";
  }
  for (const char* group : {"applied", "pending", "failed", "blocked", "superseded", "expired", "withdrawn", "disabled", "not_applicable"}) {
    bool header = false;
    for (const Row& r : rows) {
      if (r.status != group) continue;
      if (!header) std::cout << "\n" << group << ":\n";
      header = true;
      std::cout << "  " << r.id << " r" << r.revision << "  " << r.title.substr(0, r.title.find('\n'))
                << (r.since.empty() ? "" : "  (since " + r.since + ")") << "\n    " << r.reason << "\n";
    }
  }
  return 0;
}

int cmd_report(Cli& cli, const Args& args) {
  auto l = load_all(cli);
  auto decisions = l->engine->decide(*l->store, now_seconds());
  auto rows = status_rows(*l, decisions);
  std::string host = l->engine->inputs().inventory.host;
  if (auto file = args.value("--csv")) {
    std::ostringstream out;
    out << "Server,Id,Revision,Kind,Title,Status,Since,CVEs,FixedIn,Reason\r\n";
    for (const Row& r : rows) {
      out << csv_field(host) << ',' << csv_field(r.id) << ',' << r.revision << ',' << csv_field(r.kind) << ','
          << csv_field(r.title) << ',' << csv_field(r.status) << ',' << csv_field(r.since) << ',' << csv_field(r.cves)
          << ',' << csv_field(r.fixed_in) << ',' << csv_field(r.reason) << "\r\n";
    }
    std::ofstream f(*file, std::ios::binary | std::ios::trunc);
    f << out.str();
    if (!f) throw ErrorException(make_error(Errc::io, *file + ": cannot write the report"));
    if (!cli.json_out) std::cout << "wrote " << rows.size() << " rows to " << *file << "\n";
    return 0;
  }
  json::array arr;
  for (const Row& r : rows) {
    arr.push_back(json::object{{"server", host}, {"id", r.id}, {"revision", r.revision}, {"kind", r.kind},
                               {"title", r.title}, {"status", r.status}, {"since", r.since}, {"cves", r.cves},
                               {"fixed_in", r.fixed_in}, {"reason", r.reason}});
  }
  print_json(arr);
  return 0;
}

int cmd_audit(Cli& cli, const Args& args) {
  Config config = cli.config();
  auto store = state::Store::open(config.state_db);
  if (!args.positional().empty() && args.positional()[0] == "verify") {
    auto bad = store->audit_verify();
    std::int64_t n = store->audit_count();
    if (cli.json_out) {
      json::object o;
      o["ok"] = !bad;
      o["records"] = n;
      if (bad) {
        o["first_bad_record"] = bad->seq;
        o["why"] = bad->why;
      }
      print_json(o);
    } else if (bad) {
      std::cout << "audit log BROKEN at record " << bad->seq << ": " << bad->why << "\n";
    } else {
      std::cout << "audit log intact: " << n << " records verified\n";
    }
    return bad ? 1 : 0;
  }
  if (!args.positional().empty()) throw UsageError("audit takes options, or 'verify'");
  state::AuditQuery q;
  q.since = args.value("--since");
  q.until = args.value("--until");
  q.mitigation = args.value("--mitigation");
  q.event = args.value("--event");
  q.text = args.value("--text");
  auto records = store->audit_query(q);
  if (cli.json_out) {
    json::array arr;
    for (const auto& r : records) {
      json::value detail;
      boost::system::error_code ec;
      detail = json::parse(r.detail, ec);
      arr.push_back(json::object{{"seq", r.seq}, {"at", r.at}, {"event", r.event}, {"mitigation", r.mitigation_id},
                                 {"revision", r.revision}, {"run", r.run_id}, {"actor", r.actor},
                                 {"message", r.message}, {"detail", ec ? json::value(r.detail) : detail},
                                 {"hash", r.hash}});
    }
    print_json(arr);
  } else {
    for (const auto& r : records) {
      std::cout << r.at << "  #" << r.seq << "  " << r.event << "  " << (r.mitigation_id.empty() ? "-" : r.mitigation_id)
                << "  " << r.message << "  [" << r.actor << "]\n";
    }
  }
  return 0;
}

Manifest load_manifest_file(const std::string& path) {
  auto text = json_input::read_file_capped(path, 256 * 1024);
  if (!text) throw ErrorException(text.error());
  auto m = parse_manifest(path, *text);
  if (!m) throw ErrorException(m.error());
  return std::move(*m);
}

int cmd_rules(Cli& cli, const Args& args) {
  if (args.positional().size() != 2) throw UsageError("rules render|test MANIFEST");
  const std::string& sub = args.positional()[0];
  Manifest m = load_manifest_file(args.positional()[1]);
  Inventory inv;
  if (auto inv_file = args.value("--inventory")) {
    auto loaded = load_inventory(*inv_file);
    if (!loaded) throw ErrorException(loaded.error());
    inv = std::move(*loaded);
  }
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < m.actions.size(); ++i) all.push_back(i);
  if (sub == "render") {
    std::string server = args.value("--server").value_or("nginx");
    if (server != "nginx" && server != "apache") throw UsageError("--server nginx|apache");
    WebServerKind kind = server == "nginx" ? WebServerKind::nginx : WebServerKind::apache;
    if (auto engine = args.value("--engine")) {
      if (*engine != "config" && *engine != "module") throw UsageError("--engine config|module");
      if (*engine == "module" && kind != WebServerKind::nginx) throw UsageError("--engine module is for nginx");
      if (!inv.web_server) inv.web_server.emplace();
      inv.web_server->kind = kind;
      inv.web_server->rules_engine = *engine == "module" ? RulesEngine::module : RulesEngine::config;
    }
    RulesEngine engine = inv.web_server ? inv.web_server->rules_engine : RulesEngine::config;
    auto files = web::render(kind, m, all, inv);
    if (!files) throw ErrorException(files.error());
    for (const auto& f : web::render_prelude(kind, "0123456789abcdef01234567", engine)) {
      std::cout << "### " << (f.context == web::Context::http ? "http" : "server") << " include: " << f.name << "\n" << f.text << "\n";
    }
    for (const auto& f : *files) {
      std::cout << "### " << (f.context == web::Context::http ? "http" : "server") << " include: " << f.name << "\n" << f.text << "\n";
    }
    return 0;
  }
  if (sub != "test") throw UsageError("rules render|test MANIFEST");
  auto req_file = args.value("--requests");
  if (!req_file) throw UsageError("rules test needs --requests FILE");
  auto text = json_input::read_file_capped(*req_file, 16 * 1024 * 1024);
  if (!text) throw ErrorException(text.error());
  auto requests = parse_request_list(*req_file, *text);
  if (!requests) throw ErrorException(requests.error());
  std::map<std::size_t, std::vector<std::string>> prefixes;
  for (std::size_t i = 0; i < m.actions.size(); ++i) {
    const Action& a = m.actions[i];
    if (const auto* v = std::get_if<DisableVdir>(&a.detail)) {
      if (auto it = inv.vdirs.find(v->vdir); it != inv.vdirs.end()) prefixes[i].push_back(it->second.prefix);
    }
    if (const auto* p = std::get_if<DisableAppPool>(&a.detail)) {
      for (const auto& [n, vd] : inv.vdirs) {
        if (vd.app_pool == p->app_pool) prefixes[i].push_back(vd.prefix);
      }
    }
  }
  auto live = args.value("--live");
  HttpProber prober;
  std::set<int> block_statuses{403, 444};
  for (const Action& a : m.actions) {
    if (const auto* r = std::get_if<RewriteRule>(&a.detail)) block_statuses.insert(r->respond.status);
  }
  int mismatches = 0;
  json::array results;
  for (const Probe& p : *requests) {
    std::string verdict, detail;
    if (live) {
      auto r = prober.send(*live, p.request);
      if (!r) {
        verdict = "error";
        detail = r.error().message;
      } else {
        bool blocked = r->dropped || block_statuses.contains(r->status);
        verdict = blocked ? "blocked" : "passed";
        detail = r->dropped ? "connection dropped" : "status " + std::to_string(r->status);
      }
    } else {
      RuleVerdict v = evaluate_request(m, p.request, prefixes);
      verdict = v.blocked ? "blocked" : "passed";
      detail = v.blocked ? "by \"" + v.action + "\" (" + std::to_string(v.status) + ")" : "no rule matched";
      if (v.engine_error) detail += "; PCRE2 gave up (match limit): the server fails closed";
    }
    std::string expected = p.expect == Probe::Expect::blocked ? "blocked" : "passed";
    bool ok = verdict == expected;
    if (!ok) ++mismatches;
    if (cli.json_out) {
      results.push_back(json::object{{"method", p.request.method}, {"target", p.request.target}, {"expected", expected},
                                     {"verdict", verdict}, {"detail", detail}, {"ok", ok}});
    } else {
      std::cout << (ok ? "ok   " : "FAIL ") << p.request.method << " " << p.request.target << "  expected " << expected
                << ", got " << verdict << " (" << detail << ")\n";
    }
  }
  if (cli.json_out) {
    print_json(json::object{{"requests", requests->size()}, {"mismatches", mismatches}, {"results", std::move(results)}});
  } else {
    std::cout << requests->size() << " requests, " << requests->size() - static_cast<std::size_t>(mismatches) << " as expected, "
              << mismatches << " mismatches" << (live ? " (live: " + *live + ")" : " (offline, PCRE2)") << "\n";
  }
  return mismatches == 0 ? 0 : 1;
}

// Writes beside the file and renames over it: a reader sees the old file or the new one.
void write_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".mitigctl-tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw ErrorException(make_error(Errc::io, tmp + ": cannot write"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw ErrorException(make_error(Errc::io, path + ": cannot replace"));
  }
}

int cmd_policy_edit(Cli& cli, const std::string& command, const Args& args) {
  Config config = cli.config();
  std::string file;
  if (args.flag("--org")) {
    if (args.value("--server")) throw UsageError("--org and --server exclude each other");
    file = config.policy_dir + "/org.json";
  } else {
    std::string host;
    if (auto h = args.value("--server")) {
      host = *h;
    } else {
      auto inv = load_inventory(config.inventory);
      if (!inv) throw ErrorException(inv.error());
      host = inv->host;
    }
    if (host.empty() || host.find('/') != std::string::npos || host.starts_with(".")) throw UsageError("--server HOST: a host name");
    std::filesystem::create_directories(config.policy_dir + "/servers");
    file = config.policy_dir + "/servers/" + host + ".json";
    if (!std::filesystem::exists(file)) write_atomically(file, "{\n  \"blocked\": []\n}\n");
  }
  auto text = json_input::read_file_capped(file, 1024 * 1024);
  if (!text) throw ErrorException(text.error());
  Result<std::string> edited = make_error(Errc::internal, "no edit");
  std::string summary;
  const auto& ids = args.positional();
  for (const auto& id : ids) {
    if (!is_valid_mitigation_id(id)) throw UsageError(id + ": not a mitigation id");
  }
  if (command == "block" && args.flag("--clear")) {
    if (!ids.empty()) throw UsageError("block --clear takes no ids");
    edited = policy_edit::clear(file, *text);
    summary = "cleared the blocklist";
  } else if (command == "block") {
    if (ids.empty()) throw UsageError("block needs at least one mitigation id (or --clear)");
    std::vector<BlockEntry> entries;
    for (const auto& id : ids) {
      BlockEntry e;
      e.id = id;
      e.reason = args.value("--reason").value_or("");
      e.by = args.value("--by").value_or("");
      if (!json_input::is_single_line(e.reason) || !json_input::is_single_line(e.by)) throw UsageError("--reason and --by: one line");
      if (auto until = args.value("--until")) {
        if (!parse_until(*until)) throw UsageError("--until: a date such as 2026-12-31 or a UTC time such as 2026-12-31T18:00:00Z");
        e.until = *until;
      }
      entries.push_back(e);
    }
    edited = policy_edit::block(file, *text, entries);
    summary = "blocked";
    for (const auto& id : ids) summary += " " + id;
    if (auto r = args.value("--reason")) summary += ": " + *r;
  } else if (command == "unblock") {
    if (ids.empty()) throw UsageError("unblock needs at least one mitigation id");
    edited = policy_edit::unblock(file, *text, ids);
    summary = "unblocked";
    for (const auto& id : ids) summary += " " + id;
  } else {
    if (!ids.empty()) throw UsageError(command + " takes no ids");
    edited = policy_edit::set_enabled(file, *text, command == "enable");
    summary = command == "enable" ? "enabled mitigations" : "disabled mitigations";
  }
  if (!edited) throw ErrorException(edited.error());
  if (*edited == *text) {
    if (!cli.json_out) std::cout << file << ": already so, nothing changed\n";
    return 0;
  }
  write_atomically(file, *edited);
  try {
    auto store = state::Store::open(config.state_db);
    attach_audit_journal(*store, "mitigctl");
    store->audit_append({"", "policy_edited", ids.size() == 1 ? ids[0] : "", 0, "", actor(), summary + " in " + file, "{}"});
  } catch (const std::exception&) {
    // The policy repository may be edited on a machine without mitigd's state: the daemon audits
    // the change when it sees it.
  }
  if (cli.json_out) {
    print_json(json::object{{"file", file}, {"changed", true}, {"summary", summary}});
  } else {
    std::cout << file << ": " << summary << " (review and commit it; the daemon converges on its own)\n";
  }
  return 0;
}

int run(int argc, char** argv) {
  std::vector<std::string> all(argv + 1, argv + argc);
  Cli cli;
  const char* env = std::getenv("MITIGD_CONFIG");
  cli.config_path = env ? env : "/etc/mitigd/mitigd.json";
  // Global options come before the command.
  std::size_t i = 0;
  for (; i < all.size(); ++i) {
    if (all[i] == "--config" && i + 1 < all.size()) {
      cli.config_path = all[++i];
    } else if (all[i].starts_with("--config=")) {
      cli.config_path = all[i].substr(9);
    } else if (all[i] == "-h" || all[i] == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      break;
    }
  }
  if (i >= all.size()) {
    std::cerr << kUsage;
    return 1;
  }
  std::string command = all[i];
  std::vector<std::string> rest(all.begin() + static_cast<long>(i) + 1, all.end());
  if (command == "feed") return run_feed_command(rest, false);
  static const std::set<std::string> kValues{"--output", "--out", "--plan", "--csv", "--since", "--until", "--mitigation",
                                             "--event", "--text", "--server", "--engine", "--requests", "--live", "--inventory", "--config",
                                             "--reason", "--until", "--by"};
  Args args(rest, kValues, {"--detailed-exitcode", "--org", "--clear", "--offline"});
  if (auto c = args.value("--config")) cli.config_path = *c;
  std::string output = args.value("--output").value_or("text");
  if (output != "text" && output != "json") throw UsageError("-o text|json");
  cli.json_out = output == "json";
  if (command == "plan") return cmd_plan(cli, args);
  if (command == "apply") return cmd_apply(cli, args);
  if (command == "explain") return cmd_explain(cli, args);
  if (command == "status") return cmd_status(cli, args);
  if (command == "report") return cmd_report(cli, args);
  if (command == "audit") return cmd_audit(cli, args);
  if (command == "validate") return cmd_validate(cli, args);
  if (command == "validate-manifests") return cmd_validate_manifests(cli, args);
  if (command == "rules") return cmd_rules(cli, args);
  if (command == "block" || command == "unblock" || command == "enable" || command == "disable") {
    return cmd_policy_edit(cli, command, args);
  }
  throw UsageError("unknown command " + command);
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
