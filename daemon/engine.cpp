#include "daemon/engine.hpp"

#include "policies/json_input.hpp"
#include "reconcilers/installed_versions.hpp"
#include "reconcilers/web_config_watch.hpp"

#include <botan/hash.h>

#include <set>

#include <botan/auto_rng.h>
#include <botan/hex.h>

namespace mitigd {

std::string new_run_id() {
  Botan::AutoSeeded_RNG rng;
  return state::utc_now_text() + "-" + Botan::hex_encode(rng.random_vec(4), false);
}

Engine::Engine(Config config, CommandRunner& runner, Prober& prober, Clock& clock, SystemdFactory systemd)
    : config_(std::move(config)), runner_(runner), prober_(prober), clock_(clock), systemd_factory_(std::move(systemd)) {
  if (!systemd_factory_) systemd_factory_ = [](const std::string& bus) { return make_sdbus_systemd(bus); };
}

namespace {
// The policy's rule modes over the manifests' (detect while trying a rule, enforce to promote).
void apply_rule_modes(const Policy& policy, std::vector<Manifest>& manifests) {
  for (Manifest& m : manifests) {
    if (auto mode = policy.rule_mode(m.id); !mode.empty()) apply_rule_mode(m, mode);
  }
}
}  // namespace

Result<void> Engine::load(state::Store* store, bool refresh_feed) {
  auto inventory = load_inventory(config_.inventory);
  if (!inventory) return inventory.error();
  auto policy = load_policy_dir(config_.policy_dir, inventory->host);
  if (!policy) return policy.error();
  Result<feed::ManifestSet> manifests = feed::ManifestSet{};
  if (config_.feed) {
    if (!store) return make_error(Errc::internal, "the TUF feed needs the state store");
    if (!fetcher_) fetcher_ = feed::make_fetcher(config_.feed->http);
    feed::FeedStatus status;
    manifests = feed::load_feed(*config_.feed, *store, *fetcher_, refresh_feed, clock_.wall(), status, &feed_memo_);
    feed_status_ = status;
  } else {
    manifests = feed::load_manifest_dir(config_.manifests_dir, store);
  }
  if (!manifests) return manifests.error();
  apply_rule_modes(*policy, manifests->manifests);
  inputs_ = Inputs{std::move(*inventory), std::move(*policy), std::move(*manifests)};
  units_.reset();
  web_.reset();
  web_driver_.reset();
  if (inputs_->inventory.web_server) {
    web_driver_ = std::make_unique<web::ConfigDirDriver>(*inputs_->inventory.web_server, runner_, prober_, clock_,
                                                        include_dirs_ ? *include_dirs_ : web::disk_include_dirs());
    web_driver_->set_checkpoint(checkpoint_);
    web_driver_->set_self_writes(self_writes_);
    web_ = std::make_unique<WebRulesReconciler>(*web_driver_, inputs_->inventory);
  }
  // Always present, so a ledger row for a unit can be undone even after the inventory dropped
  // it; it connects to the bus only when a unit is actually read or changed.
  // The bus connection outlives reloads (every trigger reloads the inputs): a new one only
  // when the inventory names another bus.
  if (!systemd_driver_ || systemd_bus_ != inputs_->inventory.systemd_bus) {
    systemd_bus_ = inputs_->inventory.systemd_bus;
    systemd_driver_ = systemd_factory_(systemd_bus_);
  }
  units_ = std::make_unique<SystemdReconciler>(*systemd_driver_, inputs_->inventory);
  units_->set_checkpoint(checkpoint_);
  return {};
}

std::vector<Reconciler*> Engine::reconcilers() {
  std::vector<Reconciler*> out;
  // Order matters for actions with two parts (an app pool): the web server answers 503 first,
  // then the unit stops; undo runs in reverse.
  if (web_) out.push_back(web_.get());
  if (units_) out.push_back(units_.get());
  return out;
}

std::map<std::string, const Manifest*> Engine::manifests_by_id() const {
  std::map<std::string, const Manifest*> out;
  for (const Manifest& m : inputs_->manifests.manifests) out[m.id] = &m;
  return out;
}

std::string Engine::counters_url() const {
  if (!inputs_ || !inputs_->inventory.web_server) return {};
  const auto& w = *inputs_->inventory.web_server;
  return w.kind == WebServerKind::nginx && w.rules_engine == RulesEngine::module ? w.probe_url : std::string();
}

std::vector<Decision> Engine::decide(state::Store& store, SysSeconds now) {
  DesiredInputs in;
  in.manifests = &inputs_->manifests.manifests;
  in.policy = &inputs_->policy;
  in.inventory = &inputs_->inventory;
  in.installed = read_installed_versions(inputs_->inventory, runner_);
  in.now = now;
  if (feed_status_ && feed_status_->expired && feed_status_->expires) in.feed_expired_at = feed_status_->expires;
  for (const auto& r : store.ledger()) in.in_ledger[r.mitigation_id] = r.revision;
  for (const auto& f : store.failures()) {
    in.failures[f.mitigation_id] = {f.revision, f.attempts, SysSeconds{std::chrono::seconds(f.retry_after)},
                                    f.permanent, f.reason, f.op, f.cause, f.inputs_digest};
  }
  in.inputs_digest = inputs_digest();
  in.invalid_manifests = inputs_->manifests.invalid;
  return evaluate_desired(in);
}

std::string Engine::inputs_digest() const {
  auto hash = Botan::HashFunction::create_or_throw("SHA-256");
  auto add = [&](std::string_view part) {
    std::string len = std::to_string(part.size()) + ":";
    hash->update(len);
    hash->update(reinterpret_cast<const std::uint8_t*>(part.data()), part.size());
  };
  for (const auto& h : inputs_->manifests.sha256) add(h);
  for (const auto& bad : inputs_->manifests.invalid) add(bad.source + "\n" + bad.error);
  for (const std::string* file : {&inputs_->inventory.file, &inputs_->policy.org.file, &inputs_->policy.server.file}) {
    auto text = json_input::read_file_capped(*file, 16 * 1024 * 1024);
    add(text ? *text : std::string("(unreadable)"));
  }
  if (inputs_->inventory.web_server) add(web::view_config(*inputs_->inventory.web_server).fingerprint);
  return Botan::hex_encode(hash->final(), false);
}

Plan Engine::plan(state::Store& store, SysSeconds now, RevertScope revert) {
  auto decisions = decide(store, now);
  auto ledger = store.ledger();
  Mode mode = inputs_->policy.mode();
  if (revert != RevertScope::none) {
    // Removal: everything the ledger holds goes, whatever the policy, the backoff or the mode say.
    std::set<std::string> held;
    for (const auto& r : ledger) {
      if (revert == RevertScope::all || r.resource.starts_with("web:")) held.insert(r.mitigation_id);
    }
    for (Decision& d : decisions) {
      d.retry.reset();
      if (!held.contains(d.id)) {
        d.want = Want::hold;
        continue;
      }
      d.want = Want::absent;
      d.status = Status::disabled;
      d.summary = revert == RevertScope::all ? "reverting everything mitigd applied (mitigctl revert-all)"
                                             : "reverting every web rule mitigd applied (mitigctl revert-all --web)";
      d.reasons.push_back("=> " + d.summary);
    }
    mode = Mode::enforce;
  }
  ObservedState observed = observe_all(reconcilers(), ledger, manifests_by_id());
  return make_plan(std::move(decisions), observed, ledger, inputs_->inventory, mode);
}

ApplyOutcome Engine::apply(const Plan& plan, state::Store& store, const std::string& run_id, const std::string& actor) {
  ApplyContext ctx{store, reconcilers(), inputs_->inventory, inputs_->inventory.web_server ? &prober_ : nullptr,
                   run_id, actor, clock_,
                   std::chrono::milliseconds(1000), {403, 444}, checkpoint_, inputs_digest()};
  if (units_) units_->set_checkpoint(checkpoint_);
  if (web_driver_) {
    web_driver_->set_checkpoint(checkpoint_);
    if (auto r = web_driver_->recover(); !r) {
      ApplyOutcome failed;
      failed.failed = 1;
      failed.lines.push_back("! cannot recover the interrupted web server change: " + r.error().message);
      store.audit_append({"", "recovery_failed", "", 0, run_id, actor, failed.lines.back(), "{}"});
      return failed;
    }
  }
  return apply_plan(plan, manifests_by_id(), ctx);
}

}  // namespace mitigd
