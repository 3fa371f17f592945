#pragma once
// One reconcile, shared by mitigctl (plan, apply) and mitigd (every trigger): load the inputs,
// evaluate the desired state, observe, plan, and, when asked, apply exactly that plan.
// Inputs are loaded all or nothing: when a file is bad, the last good inputs stay in force.
#include "daemon/config.hpp"
#include "feed/feed_source.hpp"
#include "feed/manifest_source.hpp"
#include "policies/desired.hpp"
#include "reconcilers/applier.hpp"
#include "reconcilers/command_runner.hpp"
#include "reconcilers/web_driver.hpp"
#include "reconcilers/systemd_reconciler.hpp"
#include "reconcilers/web_reconciler.hpp"

#include <functional>
#include <memory>
#include <optional>

namespace mitigd {

enum class RevertScope { none, all, web };

struct Inputs {
  Inventory inventory;
  Policy policy;
  feed::ManifestSet manifests;
};

class Engine {
 public:
  // The systemd driver for a bus address (the real one over sd-bus by default; tests pass fakes).
  using SystemdFactory = std::function<std::unique_ptr<SystemdDriver>(const std::string& bus)>;
  Engine(Config config, CommandRunner& runner, Prober& prober, Clock& clock = system_clock(), SystemdFactory systemd = {});

  // Reloads inventory, policy and manifests. With a TUF feed configured the store is required;
  // refresh_feed runs the online update first (otherwise only verified local state is used).
  // On error the previous inputs stay (if any).
  Result<void> load(state::Store* store = nullptr, bool refresh_feed = false);
  const std::optional<feed::FeedStatus>& feed_status() const { return feed_status_; }
  bool loaded() const { return inputs_.has_value(); }
  const Inputs& inputs() const { return *inputs_; }
  const Config& config() const { return config_; }
  Clock& clock() const { return clock_; }

  std::vector<Decision> decide(state::Store& store, SysSeconds now);
  // SHA-256 over every input: manifests (and refused ones), inventory, policy files, and the web
  // server's own config files. A failure recorded under one digest is retried at once under another.
  std::string inputs_digest() const;
  // A removal: every mitigation the ledger holds (all), or each that holds a web rule file (web: the
  // module package goes), is planned for revert, whatever the inputs say.
  Plan plan(state::Store& store, SysSeconds now, RevertScope revert = RevertScope::none);
  ApplyOutcome apply(const Plan& plan, state::Store& store, const std::string& run_id, const std::string& actor);
  std::map<std::string, const Manifest*> manifests_by_id() const;
  // The loopback URL whose prelude serves the nginx module's rule counters; empty without the module.
  std::string counters_url() const;
  std::vector<Reconciler*> reconcilers();
  void set_checkpoint(Checkpoint c) { checkpoint_ = std::move(c); }
  void set_self_writes(web::SelfWrites* writes) { self_writes_ = writes; }
  // Where the web driver reads and writes its include files (the disk unless a test says otherwise).
  void set_include_dirs(web::IncludeDirs* dirs) { include_dirs_ = dirs; }

 private:
  Config config_;
  CommandRunner& runner_;
  Prober& prober_;
  Clock& clock_;
  SystemdFactory systemd_factory_;
  std::optional<Inputs> inputs_;
  std::unique_ptr<web::ConfigDirDriver> web_driver_;
  std::unique_ptr<WebRulesReconciler> web_;
  std::unique_ptr<SystemdDriver> systemd_driver_;
  std::string systemd_bus_;
  std::unique_ptr<SystemdReconciler> units_;
  Checkpoint checkpoint_;
  web::SelfWrites* self_writes_ = nullptr;
  web::IncludeDirs* include_dirs_ = nullptr;
  std::unique_ptr<feed::Fetcher> fetcher_;
  std::optional<feed::FeedStatus> feed_status_;
  feed::FeedMemo feed_memo_;
};

std::string new_run_id();

}  // namespace mitigd
