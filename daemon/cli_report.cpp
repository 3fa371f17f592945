// mitigctl status, report, audit: what holds on this server, and what happened.
#include "daemon/cli_common.hpp"
#include "daemon/control_protocol.hpp"
#include "daemon/reconcile.hpp"
#include "reconcilers/rule_counters.hpp"

#include <boost/json.hpp>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
namespace mitigd {
namespace json = boost::json;

namespace {

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
  std::string id, kind, title, status, since, cves, fixed_in, reason;
  std::int64_t revision = 0;
  MitigationState state;
};

std::vector<Row> status_rows(Loaded& l, const Plan& plan) {
  auto ledger = l.store->ledger();
  auto states = mitigation_states(plan, ledger);
  std::vector<Row> rows;
  for (std::size_t i = 0; i < plan.decisions.size(); ++i) {
    const Decision& d = plan.decisions[i];
    Row r;
    r.state = states[i];
    r.id = d.id;
    r.revision = d.revision;
    r.status = r.state.state;
    r.reason = d.summary;
    for (const auto& lr : ledger) {
      if (lr.mitigation_id == d.id && (r.since.empty() || lr.recorded_at < r.since)) r.since = lr.recorded_at;
    }
    if (d.manifest) {
      r.title = d.manifest->title;
      std::set<std::string> kinds;
      for (const Action& a : d.manifest->actions) kinds.insert(to_string(a.kind));
      for (const auto& k : kinds) r.kind += (r.kind.empty() ? "" : ";") + k;
      for (const auto& c : d.manifest->cves) r.cves += (r.cves.empty() ? "" : ";") + c;
      r.fixed_in = d.manifest->applies_to.fixed_in.value_or("");
      for (const auto& b : d.manifest->applies_to.fixed) r.fixed_in += (r.fixed_in.empty() ? "" : ";") + b.fixed_in;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

// Every event the audit log records (docs/formats.md).
const std::set<std::string> kAuditEvents{
    "applied", "drift_repaired", "reverted", "superseded", "failed", "waiting", "revert_failed", "orphan_removed",
    "recovery_failed", "policy_edited", "policy_changed", "feed_changed", "feed_recovered", "feed_expired",
    "feed_unreachable", "warning", "warnings_cleared", "retry_requested"};

// --since/--until: an RFC 3339 UTC time, a date (its start, or its end for --until), or a time
// before now: 30m, 24h, 7d.
SysSeconds audit_time(const std::string& text, const std::string& option, bool end_of_day) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])) && text.size() <= 6 &&
      std::string("mhd").find(text.back()) != std::string::npos) {
    long n = std::strtol(text.c_str(), nullptr, 10);
    long unit = text.back() == 'm' ? 60 : text.back() == 'h' ? 3600 : 86400;
    return now_seconds() - std::chrono::seconds(n * unit);
  }
  if (auto t = parse_utc_timestamp(text)) return *t;
  if (text.size() == 10) {
    if (auto day = parse_utc_timestamp(text + "T00:00:00Z")) return end_of_day ? *day + std::chrono::seconds(86399) : *day;
  }
  throw UsageError(option + " " + text + ": expected a UTC time (2026-12-01T08:00:00Z), a date (2026-12-01) or a "
                   "time before now (30m, 24h, 7d)");
}

}  // namespace

// A member of the control group: the daemon's view, from its last run.
static int status_via_daemon(Cli& cli, const Config& config) {
  auto answer = control_request(config.control_socket, {"status", {}}, 30);
  if (!answer) throw ErrorException(answer.error());
  if (cli.json_out) {
    print_json(*answer);
    return 0;
  }
  const json::object& o = answer->as_object();
  if (!o.contains("run")) {
    std::cout << "the mitigd daemon is starting; try again in a moment\n";
    return 0;
  }
  std::cout << "as of the daemon's last run " << json::serialize(o.at("run")) << " ("
            << o.at("trigger").as_string().c_str() << "), via " << config.control_socket << ":\n";
  for (const auto& m : o.at("mitigations").as_array()) {
    const auto& mo = m.as_object();
    std::cout << (mo.at("not_in_force").as_bool() ? "NOT IN FORCE  " : "  ") << mo.at("id").as_string().c_str() << " r"
              << mo.at("revision").as_int64() << "  " << mo.at("state").as_string().c_str() << "\n    "
              << mo.at("reason").as_string().c_str() << "\n";
  }
  return 0;
}

// The nginx module's per-rule match counters, summed by mitigation, and each mitigation's rule mode.
struct RuleHits {
  bool counters_read = false;
  std::string error;
  std::map<std::string, MitigationHits> by_mitigation;
  std::map<std::string, std::string> modes;  // "enforce", "detect" or "enforce and detect"
};

RuleHits read_hits(const std::string& url, const std::vector<Manifest>& manifests) {
  RuleHits h;
  for (const Manifest& m : manifests) {
    std::set<std::string> modes;
    for (const Action& a : m.actions) {
      if (a.kind == ActionKind::rewrite_rule) modes.insert(to_string(m.mode_of(a)));
    }
    if (!modes.empty()) h.modes[m.id] = modes.size() == 2 ? "enforce and detect" : *modes.begin();
  }
  if (url.empty()) return h;
  auto counters = read_rule_counters(url);
  if (!counters) {
    h.error = counters.error().message;
    return h;
  }
  h.counters_read = true;
  h.by_mitigation = hits_by_mitigation(*counters);
  return h;
}

void print_hits(RuleHits& hits, const std::string& id) {
  if (!hits.counters_read || !hits.modes.contains(id)) return;
  const auto& h = hits.by_mitigation[id];
  std::cout << "    rules in " << hits.modes[id] << " mode: " << h.enforce << " request(s) blocked, " << h.detect
            << " detected and let through (since nginx started)\n";
}

// status -o json (docs/schema/status.schema.json).
void print_status_json(const Loaded& l, const std::vector<Row>& rows, const std::vector<std::string>& warnings, RuleHits& hits) {
  const Inputs& in = l.engine->inputs();
  json::object o;
  o["host"] = in.inventory.host;
  o["enabled"] = in.policy.enabled();
  o["mode"] = to_string(in.policy.mode());
  json::array arr;
  for (const Row& r : rows) {
    json::object m = mitigation_state_json(r.state);
    m["status"] = r.status;
    m["since"] = r.since;
    m["title"] = r.title;
    if (hits.counters_read && hits.modes.contains(r.id)) {
      const auto& h = hits.by_mitigation[r.id];
      m["rule_mode"] = hits.modes[r.id];
      m["rule_matches"] = json::object{{"enforce", h.enforce}, {"detect", h.detect}};
    }
    arr.push_back(std::move(m));
  }
  o["mitigations"] = std::move(arr);
  json::array w;
  for (const auto& s : warnings) w.push_back(json::string(s));
  o["warnings"] = std::move(w);
  if (!hits.error.empty()) o["rule_counters_error"] = hits.error;
  if (const auto& fs = l.engine->feed_status()) {
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
}

int cmd_status(Cli& cli, const Args&) {
  if (Config config = cli.config(); state_is_private(config) && daemon_reachable(config)) {
    return status_via_daemon(cli, config);
  }
  auto l = load_all(cli);
  auto warnings = input_warning_lines(l->engine->inputs());
  print_warnings(cli, warnings);
  auto rows = status_rows(*l, l->engine->plan(*l->store, now_seconds()));
  const Inputs& in = l->engine->inputs();
  RuleHits hits = read_hits(l->engine->counters_url(), in.manifests.manifests);
  if (cli.json_out) {
    print_status_json(*l, rows, warnings, hits);
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
  for (const char* group : {"failed", "waiting", "invalid", "pending", "applied", "blocked", "superseded", "expired",
                            "withdrawn", "disabled", "not_applicable"}) {
    bool header = false;
    for (const Row& r : rows) {
      if (r.status != group) continue;
      bool loud = r.state.not_in_force;
      if (!header) std::cout << "\n" << group << (loud ? " (NOT IN FORCE)" : "") << ":\n";
      header = true;
      std::cout << "  " << r.id << " r" << r.revision << "  " << r.title.substr(0, r.title.find('\n'))
                << (r.since.empty() ? "" : "  (since " + r.since + ")") << "\n    " << r.reason << "\n";
      if (r.state.next_attempt) std::cout << "    next attempt: " << format_utc(*r.state.next_attempt) << "\n";
      print_hits(hits, r.id);
    }
  }
  if (!hits.error.empty()) std::cout << "\nRule match counters not read: " << hits.error << "\n";
  int not_in_force = 0;
  for (const Row& r : rows) not_in_force += r.state.not_in_force ? 1 : 0;
  if (not_in_force) std::cout << "\n" << not_in_force << " mitigation(s) NOT IN FORCE. `mitigctl retry [ID...]` retries now.\n";
  return 0;
}

int cmd_report(Cli& cli, const Args& args) {
  auto l = load_all(cli);
  auto rows = status_rows(*l, l->engine->plan(*l->store, now_seconds()));
  std::string host = l->engine->inputs().inventory.host;
  if (auto file = args.value("--csv")) {
    std::ostringstream out;
    out << "Server,Id,Revision,Kind,Title,Status,Since,CVEs,FixedIn,Reason\r\n";
    for (const Row& r : rows) {
      out << csv_field(host) << ',' << csv_field(r.id) << ',' << r.revision << ',' << csv_field(r.kind) << ','
          << csv_field(r.title) << ',' << csv_field(r.status) << ',' << csv_field(r.since) << ',' << csv_field(r.cves)
          << ',' << csv_field(r.fixed_in) << ',' << csv_field(r.reason) << "\r\n";
    }
    if (*file == "-") {
      std::cout << out.str();
      return 0;
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
                               {"not_in_force", r.state.not_in_force},
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
  if (auto since = args.value("--since")) q.since = format_utc(audit_time(*since, "--since", false));
  if (auto until = args.value("--until")) q.until = format_utc(audit_time(*until, "--until", true));
  q.mitigation = args.value("--mitigation");
  q.event = args.value("--event");
  if (q.event && !kAuditEvents.contains(*q.event)) {
    std::string known;
    for (const auto& e : kAuditEvents) known += (known.empty() ? "" : ", ") + e;
    throw UsageError("--event " + *q.event + ": not an audit event (one of " + known + ")");
  }
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

}  // namespace mitigd
