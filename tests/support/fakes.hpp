#pragma once
// In-memory stand-ins for the effects mitigd drives, for Catch2 tests of the reconcilers and of the
// whole reconcile without a real web server or systemd. They model the behaviour the product relies
// on, not call sequences: a web server that validates what is on disk and serves only what it last
// reloaded, a service manager whose units keep state, a clock that never sleeps, and a fault plan
// that fails the Nth call of any of them.
#include "policies/rule_eval.hpp"
#include "reconcilers/clock.hpp"
#include "reconcilers/command_runner.hpp"
#include "reconcilers/include_dirs.hpp"
#include "reconcilers/prober.hpp"
#include "reconcilers/systemd_driver.hpp"
#include "reconcilers/web_rules.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace mitigd::testing {

// Fails the Nth call counted across every fake that shares it (0: never).
struct FaultPlan {
  int fail_at = 0;
  int calls = 0;
  bool next() { return fail_at > 0 && ++calls == fail_at; }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(SysSeconds start) : start_(start) {}
  SysSeconds wall() override { return start_ + std::chrono::duration_cast<std::chrono::seconds>(steady_.time_since_epoch()); }
  Steady steady() override { return steady_; }
  void sleep_until(Steady t) override {
    if (t > steady_) steady_ = t;
  }
  void advance(std::chrono::seconds d) { steady_ += d; }

 private:
  SysSeconds start_;
  Steady steady_{};
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// nginx, modelled: `fake-validate` checks the operator's site file (ROOT/site.conf: "BROKEN" makes
// it invalid) and every include file (a rule containing "fakeinvalid" is refused), naming file and
// line like nginx; `fake-reload` makes the listener serve what is on disk now. The listener answers
// the reload barrier's generation requests from the served prelude and evaluates the served rule
// files' manifests with the offline rule engine.
// Include dirs in memory: what the driver writes is only here (and what FakeNginx validates).
class MemoryIncludeDirs final : public web::IncludeDirs {
 public:
  std::map<std::string, std::map<std::string, std::string>> files;  // dir -> name -> content
  FaultPlan* faults = nullptr;
  std::map<std::string, std::string> list(const std::string& dir, std::string_view suffix) override {
    std::map<std::string, std::string> out;
    for (const auto& [name, text] : files[dir]) {
      if (name.ends_with(suffix)) out[name] = text;
    }
    return out;
  }
  std::optional<std::string> read(const std::string& dir, const std::string& name) override {
    auto it = files[dir].find(name);
    if (it == files[dir].end()) return std::nullopt;
    return it->second;
  }
  bool exists(const std::string& dir, const std::string& name) override { return files[dir].contains(name); }
  Result<void> write(const std::string& dir, const std::string& name, std::string_view content) override {
    if (faults && faults->next()) return make_error(Errc::io, dir + "/" + name + ": injected: No space left on device");
    files[dir][name] = std::string(content);
    return {};
  }
  Result<void> remove(const std::string& dir, const std::string& name) override {
    if (faults && faults->next()) return make_error(Errc::io, dir + "/" + name + ": injected: cannot remove");
    files[dir].erase(name);
    return {};
  }
  void remove_temporaries(const std::string&) override {}
};

class FakeNginx final : public CommandRunner, public Prober {
 public:
  FakeNginx(std::string root, web::IncludeDirs& dirs) : root_(std::move(root)), dirs_(dirs) {}
  std::string include_dir(const char* ctx) const { return root_ + "/mitigd/" + ctx; }
  std::map<std::string, Manifest> manifests;  // what rule files name, by id
  FaultPlan* faults = nullptr;
  bool reload_fails = false;
  int validations = 0;

  Result<CommandResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds) override {
    if (faults && faults->next()) return make_error(Errc::io, argv[0] + ": injected failure");
    if (argv.at(0) == "fake-validate") return validate();
    if (argv.at(0) == "fake-reload") {
      if (reload_fails) return CommandResult{1, "nginx: [alert] kill(1234, 1) failed (3: No such process)", false};
      if (validate()->exit_code == 0) served_ = on_disk();
      return CommandResult{0, "", false};
    }
    if (argv.at(0) == "fake-version") return CommandResult{0, version + "\n", false};
    return CommandResult{127, argv[0] + ": not found", false};
  }

  Result<ProbeResponse> send(const std::string&, const HttpRequest& request) override {
    if (faults && faults->next()) return make_error(Errc::unavailable, "injected: connection refused");
    for (const auto& [name, text] : served_) {
      auto marker = web::read_marker(text);
      if (!marker) continue;
      if (name == web::kPreludeName && request.target == web::generation_path(web::generation_of(text))) {
        return ProbeResponse{false, 204, "", ""};
      }
      auto m = manifests.find(marker->id);
      if (m == manifests.end()) continue;
      RuleVerdict v = evaluate_request(m->second, request);
      if (v.blocked) return ProbeResponse{v.status == 444, v.status == 444 ? 0 : v.status, "", ""};
    }
    return ProbeResponse{false, 200, "", ""};
  }

  std::map<std::string, std::string> served() const { return served_; }
  std::string version = "15.2.1118.7";

 private:
  std::map<std::string, std::string> on_disk() const {
    std::map<std::string, std::string> out;
    for (const char* ctx : {"http", "server"}) {
      for (auto& [name, text] : dirs_.list(include_dir(ctx), ".conf")) out[name] = std::move(text);
    }
    return out;
  }

  Result<CommandResult> validate() {
    ++validations;
    if (read_text(root_ + "/site.conf").find("BROKEN") != std::string::npos) {
      return CommandResult{1, "nginx: [emerg] unexpected \"}\" in " + root_ + "/site.conf:3\nnginx: configuration file test failed", false};
    }
    for (const auto& [name, text] : on_disk()) {
      if (text.find("fakeinvalid") != std::string::npos) {
        return CommandResult{1, "nginx: [emerg] invalid rule in " + include_dir("server") + "/" + name + ":2", false};
      }
    }
    return CommandResult{0, "", false};
  }

  std::string root_;
  web::IncludeDirs& dirs_;
  std::map<std::string, std::string> served_;
};

// systemd, modelled: units with an active state and a unit file state.
class FakeSystemd final : public SystemdDriver {
 public:
  std::map<std::string, UnitState> units;
  FaultPlan* faults = nullptr;
  bool bus_down = false;

  Result<UnitState> state(const std::string& unit) override {
    if (auto e = check(unit)) return *e;
    return units.at(unit);
  }
  Result<void> stop(const std::string& unit) override { return change(unit, [](UnitState& s) { s.active_state = "inactive"; }); }
  Result<void> start(const std::string& unit) override {
    return change(unit, [](UnitState& s) {
      if (!s.masked()) s.active_state = "active";
    });
  }
  Result<void> mask(const std::string& unit, bool runtime) override {
    return change(unit, [&](UnitState& s) {
      before_mask_[unit] = s.unit_file_state;
      s.unit_file_state = runtime ? "masked-runtime" : "masked";
    });
  }
  Result<void> unmask(const std::string& unit, bool) override {
    return change(unit, [&](UnitState& s) {
      auto it = before_mask_.find(unit);
      s.unit_file_state = it == before_mask_.end() ? "enabled" : it->second;
    });
  }

 private:
  std::map<std::string, std::string> before_mask_;
  std::optional<Error> check(const std::string& unit) {
    if (bus_down) return make_error(Errc::environment, "cannot connect to the systemd bus (system bus): Connection refused");
    if (faults && faults->next()) return make_error(Errc::unavailable, unit + ": injected job failure");
    if (!units.contains(unit)) return make_error(Errc::not_found, "unit " + unit + " does not exist on this host");
    return std::nullopt;
  }
  template <class Fn>
  Result<void> change(const std::string& unit, Fn fn) {
    if (auto e = check(unit)) return *e;
    fn(units.at(unit));
    return {};
  }
};

}  // namespace mitigd::testing
