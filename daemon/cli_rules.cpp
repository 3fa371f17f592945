// mitigctl rules render|test: what a manifest becomes, and its verdicts offline or live.
#include "daemon/cli_common.hpp"

#include "policies/json_input.hpp"
#include "policies/rule_eval.hpp"
#include "reconcilers/web_rules.hpp"

#include <boost/json.hpp>

#include <cctype>
#include <chrono>
#include <iostream>
#include <set>

namespace mitigd {
namespace json = boost::json;

namespace {

Manifest load_manifest_file(const std::string& path) {
  auto text = json_input::read_file_capped(path, 256 * 1024);
  if (!text) throw ErrorException(text.error());
  auto m = parse_manifest(path, *text);
  if (!m) throw ErrorException(m.error());
  return std::move(*m);
}

int render(const Manifest& m, Inventory inv, const Args& args) {
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < m.actions.size(); ++i) all.push_back(i);
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
  auto print = [](const web::RenderedFile& f) {
    std::cout << "### " << (f.context == web::Context::http ? "http" : "server") << " include: " << f.name << "\n" << f.text << "\n";
  };
  for (const auto& f : web::render_prelude(kind, "0123456789abcdef01234567", engine)) print(f);
  for (const auto& f : *files) print(f);
  return 0;
}

// Each rule's worst case on generated adversarial inputs: 4 KiB built from the pattern's own
// characters (repeated singly and as a run), each ending with a byte that breaks the match, so
// that backtracking tries every split. Offline, PCRE2 as the servers use it (with the limits).
struct RuleCost {
  std::string action, input;
  long micros = 0;
  bool error = false;
};

std::vector<std::string> adversarial_inputs(const std::string& source) {
  std::string chars;
  for (char c : source) {
    if (std::isalnum(static_cast<unsigned char>(c)) && chars.find(c) == std::string::npos) chars += c;
  }
  if (chars.empty()) chars = "a";
  std::vector<std::string> out;
  std::string run;
  while (run.size() < 4096) run += chars;
  out.push_back(run.substr(0, 4096) + "!");
  for (std::size_t i = 0; i < chars.size() && i < 8; ++i) out.push_back(std::string(4096, chars[i]) + "!");
  return out;
}

std::vector<RuleCost> rule_costs(const Manifest& m) {
  std::vector<RuleCost> out;
  for (const Action& a : m.actions) {
    const auto* rule = std::get_if<RewriteRule>(&a.detail);
    if (!rule) continue;
    RuleCost cost{a.name, "", 0, false};
    for (const Condition& c : rule->when) {
      for (const auto& input : adversarial_inputs(c.pattern.source())) {
        auto start = std::chrono::steady_clock::now();
        auto outcome = c.pattern.match(input);
        long us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
        if (us >= cost.micros) {
          cost.micros = us;
          cost.input = "'" + input.substr(0, 8) + "...' x" + std::to_string(input.size());
        }
        cost.error = cost.error || outcome == Pattern::Outcome::error;
      }
    }
    out.push_back(std::move(cost));
  }
  return out;
}

}  // namespace

namespace {

// For disable_vdir / disable_app_pool actions, the prefixes the inventory gives.
std::map<std::size_t, std::vector<std::string>> vdir_prefixes_of(const Manifest& m, const Inventory& inv) {
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
  return prefixes;
}

// Each rule's worst case, and whether the prefilter gates it (else it runs on every request).
json::array print_rule_report(const Cli& cli, const Manifest& m, const CoreRules& core) {
  json::array out;
  for (std::size_t i = 0; i < m.actions.size(); ++i) {
    if (!std::holds_alternative<RewriteRule>(m.actions[i].detail)) continue;
    bool gated = core.gated(i);
    out.push_back(json::object{{"action", m.actions[i].name}, {"gated_by_literal", gated}});
    if (!cli.json_out) {
      std::cout << (gated ? "gate " : "EVERY ") << "\"" << m.actions[i].name << "\": "
                << (gated ? "runs only when its literal occurs (prefilter)"
                          : "has no literal: its conditions run on every request (a literal operator or a pattern "
                            "with a literal of 3 bytes or more would gate it)")
                << "\n";
    }
  }
  for (const auto& c : rule_costs(m)) {
    if (cli.json_out) continue;
    std::cout << (c.micros > 1000 || c.error ? "SLOW " : "cost ") << "\"" << c.action << "\": worst " << c.micros
              << " us per condition on a generated 4 KiB input (" << c.input << ")"
              << (c.error ? ", hits the engine limits: the rule matches (fails closed)" : "") << "\n";
  }
  return out;
}

// --cost: each rule's measured cost per request on these requests, through the rule core (the
// nginx module's code): mean of 1,000 rounds over the request list.
json::array print_measured_costs(const Cli& cli, const Manifest& m, const CoreRules& core, const std::vector<Probe>& requests) {
  json::array out;
  if (requests.empty()) return out;
  for (std::size_t i = 0; i < m.actions.size(); ++i) {
    if (!std::holds_alternative<RewriteRule>(m.actions[i].detail)) continue;
    std::vector<std::unique_ptr<CoreRequest>> seen;  // built before timing: the rule alone is measured
    for (const Probe& p : requests) seen.push_back(std::make_unique<CoreRequest>(p.request));
    unsigned regexes = 0;
    for (const auto& r : seen) regexes += core.evaluate(i, *r).regexes;
    constexpr int kRounds = 1000;
    auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < kRounds; ++round) {
      for (const auto& r : seen) (void)core.evaluate(i, *r);
    }
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
                (kRounds * static_cast<double>(requests.size()));
    double per_request = static_cast<double>(regexes) / static_cast<double>(requests.size());
    out.push_back(json::object{{"action", m.actions[i].name}, {"nanoseconds_per_request", ns}, {"regexes_per_request", per_request}});
    if (!cli.json_out) {
      std::cout << "measured \"" << m.actions[i].name << "\": " << static_cast<long>(ns) << " ns per request, "
                << per_request << " regexes run per request (rule core, " << requests.size() << " requests x " << kRounds << ")\n";
    }
  }
  return out;
}

json::array cost_json_of(const Manifest& m) {
  json::array cost_json;
  for (const auto& c : rule_costs(m)) {
    cost_json.push_back(json::object{{"action", c.action}, {"worst_microseconds", c.micros}, {"input", c.input}, {"engine_error", c.error}});
  }
  return cost_json;
}

}  // namespace

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
  if (sub == "render") return render(m, std::move(inv), args);
  if (sub != "test") throw UsageError("rules render|test MANIFEST");
  auto req_file = args.value("--requests");
  if (!req_file) throw UsageError("rules test needs --requests FILE");
  auto text = json_input::read_file_capped(*req_file, 16 * 1024 * 1024);
  if (!text) throw ErrorException(text.error());
  auto requests = parse_request_list(*req_file, *text);
  if (!requests) throw ErrorException(requests.error());
  auto prefixes = vdir_prefixes_of(m, inv);
  auto live = args.value("--live");
  std::string server = args.value("--server").value_or("nginx");
  if (server != "nginx" && server != "apache") throw UsageError("--server nginx|apache");
  ServerSemantics semantics = server == "apache" ? ServerSemantics::apache : ServerSemantics::nginx;
  CoreRules core(m);  // the nginx module's code, compiled once
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
      RuleVerdict v = semantics == ServerSemantics::nginx ? evaluate_request(m, core, p.request, prefixes)
                                                          : evaluate_request(m, p.request, prefixes, semantics);
      verdict = !v.cannot_enforce.empty() ? "cannot enforce" : v.blocked ? "blocked" : "passed";
      detail = !v.cannot_enforce.empty() ? v.cannot_enforce
               : v.blocked               ? "by \"" + v.action + "\" (" + std::to_string(v.status) + ")"
                                         : "no rule matched";
      if (v.engine_error) detail += "; PCRE2 gave up (match limit): the server fails closed";
      for (const std::string& d : v.detected) detail += "; detected by \"" + d + "\" (detect mode: let through, counted)";
    }
    std::string expected = p.expect == Probe::Expect::blocked ? "blocked" : "passed";
    bool ok = verdict == expected;
    if (!ok) ++mismatches;
    if (cli.json_out) {
      results.push_back(json::object{{"method", p.request.method}, {"target", p.request.target}, {"expected", expected},
                                     {"verdict", verdict}, {"detail", detail}, {"ok", ok}});
    } else {
      // The headers too: two requests that differ only by a header must not print the same line.
      std::string headers;
      for (const auto& [name, value] : p.request.headers) headers += " [" + name + ": " + value.substr(0, 60) + "]";
      if (!p.request.body.empty()) headers += " [body: " + std::to_string(p.request.body.size()) + " bytes]";
      std::cout << (ok ? "ok   " : "FAIL ") << p.request.method << " " << p.request.target << headers << "  expected "
                << expected << ", got " << verdict << " (" << detail << ")\n";
    }
  }
  if (!cli.json_out) {
    std::cout << requests->size() << " requests, " << requests->size() - static_cast<std::size_t>(mismatches) << " as expected, "
              << mismatches << " mismatches"
              << (live ? " (live: " + *live + ")" : " (offline, " + server + " semantics: " +
                                                        (server == "nginx" ? "the nginx module's rule core)" : "mod_rewrite model)"))
              << "\n";
  }
  json::array gates = print_rule_report(cli, m, core);
  json::array measured = args.flag("--cost") ? print_measured_costs(cli, m, core, *requests) : json::array{};
  if (cli.json_out) {
    print_json(json::object{{"requests", requests->size()}, {"mismatches", mismatches}, {"results", std::move(results)},
                            {"costs", cost_json_of(m)}, {"rules", std::move(gates)}, {"measured", std::move(measured)}});
  }
  return mismatches == 0 ? 0 : 1;
}


}  // namespace mitigd
