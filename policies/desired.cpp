#include "policies/desired.hpp"

#include <algorithm>

namespace mitigd {

const char* to_string(Status status) {
  switch (status) {
    case Status::applicable: return "applicable";
    case Status::blocked: return "blocked";
    case Status::disabled: return "disabled";
    case Status::not_applicable: return "not_applicable";
    case Status::superseded: return "superseded";
    case Status::expired: return "expired";
    case Status::withdrawn: return "withdrawn";
    case Status::failed: return "failed";
    case Status::waiting: return "waiting";
    case Status::invalid: return "invalid";
  }
  return "?";
}

const char* to_string(Want want) {
  switch (want) {
    case Want::present: return "present";
    case Want::absent: return "absent";
    case Want::hold: return "hold";
  }
  return "?";
}

namespace {

// Does this server have what the action acts on? Empty when yes, else why not.
std::string missing_target(const Action& a, const Inventory& inv) {
  switch (a.kind) {
    case ActionKind::rewrite_rule:
    case ActionKind::response_header:
      return inv.web_server ? std::string() : "no web_server in the inventory";
    case ActionKind::disable_service: {
      const auto& d = std::get<DisableService>(a.detail);
      return inv.services.contains(d.service) ? std::string()
                                              : "the inventory binds no service \"" + d.service + "\"";
    }
    case ActionKind::disable_app_pool: {
      const auto& d = std::get<DisableAppPool>(a.detail);
      return inv.app_pools.contains(d.app_pool)
                 ? std::string()
                 : "the inventory binds no app pool \"" + d.app_pool + "\"";
    }
    case ActionKind::disable_vdir: {
      const auto& d = std::get<DisableVdir>(a.detail);
      if (!inv.vdirs.contains(d.vdir)) return "the inventory has no virtual directory \"" + d.vdir + "\"";
      return inv.web_server ? std::string() : "no web_server in the inventory";
    }
  }
  return "unknown action";
}

class Decider {
 public:
  Decider(const DesiredInputs& in, Decision& d) : in_(in), d_(d) {}

  void set(Status status, Want want, std::string summary) {
    d_.status = status;
    d_.want = want;
    d_.summary = std::move(summary);
    d_.reasons.push_back("=> " + std::string(to_string(status)) + ": " + d_.summary);
  }
  // What to do with a mitigation that should not be in force: revert, or keep if auto_revert is off.
  Want revert_or_hold() const { return in_.policy->auto_revert() ? Want::absent : Want::hold; }
  std::string revert_note() const {
    return in_.policy->auto_revert() ? "" : " (auto_revert is off: anything applied stays)";
  }

  void decide(const Manifest& m) {
    const Policy& policy = *in_.policy;
    d_.reasons.push_back("manifest " + m.id + " revision " + std::to_string(m.revision) + " (" + m.source + ")");

    // Product and version.
    const AppliesTo& at = m.applies_to;
    auto product = in_.inventory->products.find(at.product);
    if (product == in_.inventory->products.end()) {
      set(Status::not_applicable, revert_or_hold(),
          "product " + at.product + " is not in this server's inventory" + revert_note());
      return;
    }
    auto inst = in_.installed.find(at.product);
    if (inst == in_.installed.end() || !inst->second.error.empty()) {
      std::string why = inst == in_.installed.end() ? "not read" : inst->second.error;
      set(Status::not_applicable, Want::hold,
          "installed version of " + at.product + " is unknown (" + why + "): nothing is changed");
      return;
    }
    if (!inst->second.version) {
      set(Status::not_applicable, revert_or_hold(),
          "product " + at.product + " is not installed (" + inst->second.source + ")" + revert_note());
      return;
    }
    const std::string& version = *inst->second.version;
    if (product->second.scheme != at.scheme) {
      set(Status::not_applicable, Want::hold,
          "the manifest compares " + at.product + " versions as " + to_string(at.scheme) +
              " but the inventory says " + to_string(product->second.scheme));
      return;
    }
    if (std::string problem = version_syntax_problem(at.scheme, version); !problem.empty()) {
      set(Status::not_applicable, Want::hold,
          "installed version \"" + version + "\" of " + at.product + " is not a " + to_string(at.scheme) +
              " version (" + problem + "): nothing is changed");
      return;
    }
    d_.reasons.push_back("product " + at.product + " " + version + " installed (" + inst->second.source + ")");
    if (at.min) {
      if (compare_versions(at.scheme, version, *at.min) < 0) {
        set(Status::not_applicable, revert_or_hold(),
            at.product + " " + version + " is below min " + *at.min + revert_note());
        return;
      }
      d_.reasons.push_back(version + " >= min " + *at.min);
    }
    if (at.fixed_in) {
      if (compare_versions(at.scheme, version, *at.fixed_in) >= 0) {
        d_.superseded_by = version;
        set(Status::superseded, Want::absent,
            "security update installed: " + at.product + " " + version + " >= fixed_in " + *at.fixed_in);
        return;
      }
      d_.reasons.push_back(version + " < fixed_in " + *at.fixed_in + ": security update not installed");
    }
    if (!at.fixed.empty() && fixed_on_branch(at, version)) return;

    // Which actions have something to act on here.
    for (std::size_t i = 0; i < m.actions.size(); ++i) {
      std::string missing = missing_target(m.actions[i], *in_.inventory);
      if (missing.empty()) {
        d_.active_actions.push_back(i);
      } else {
        d_.reasons.push_back("action " + std::to_string(i) + " \"" + m.actions[i].name + "\" skipped: " + missing);
      }
    }
    if (d_.active_actions.empty()) {
      set(Status::not_applicable, revert_or_hold(), "no action of this mitigation has a target on this server");
      return;
    }

    if (in_.feed_expired_at) {
      if (in_.policy->revert_on_feed_expiry()) {
        set(Status::expired, Want::absent,
            "the signed feed expired at " + format_utc(*in_.feed_expired_at) + " and policy on_feed_expiry is revert");
        return;
      }
      d_.reasons.push_back("the signed feed expired at " + format_utc(*in_.feed_expired_at) +
                           ": kept in force (policy on_feed_expiry is keep)");
    }

    if (m.expires) {
      if (in_.now >= *m.expires) {
        set(Status::expired, revert_or_hold(), "expired at " + format_utc(*m.expires) + revert_note());
        return;
      }
      d_.reasons.push_back("expires " + format_utc(*m.expires) + ": still valid");
    }

    std::string enabled = std::string("organisation ") + (policy.org.mitigations_enabled ? "on" : "off") +
                          ", server " + policy.host + " " + (policy.server.mitigations_enabled ? "on" : "off");
    if (!policy.enabled()) {
      set(Status::disabled, revert_or_hold(), "mitigations are disabled (" + enabled + ")" + revert_note());
      return;
    }
    d_.reasons.push_back("mitigations enabled (" + enabled + ")");

    std::string level;
    if (const BlockEntry* b = policy.blocking_entry(m.id, in_.now, &level)) {
      std::string s = "blocked by " + level + " policy";
      if (!b->by.empty()) s += " (by " + b->by + ")";
      if (!b->reason.empty()) s += ": " + b->reason;
      if (b->until) s += " [until " + *b->until + "]";
      set(Status::blocked, revert_or_hold(), s + revert_note());
      return;
    }
    d_.reasons.push_back("not blocked");

    if (const FailureRecord* f = live_failure(m.id, m.revision, "apply")) {
      hold_for_failure(*f);
      if (d_.retry) return;
    }
    set(Status::applicable, Want::present, "vulnerable version installed and nothing prevents the mitigation");
  }

  // Fixed releases per branch: true (decided: superseded) when the installed version's branch has
  // its fix; otherwise notes why it is vulnerable.
  bool fixed_on_branch(const AppliesTo& at, const std::string& version) {
    for (std::size_t i = 0; i < at.fixed.size(); ++i) {
      const auto& b = at.fixed[i];
      std::optional<std::string> end = b.max;
      if (!end && i + 1 < at.fixed.size()) end = at.fixed[i + 1].min;
      if (compare_versions(at.scheme, version, b.min) < 0 || (end && compare_versions(at.scheme, version, *end) >= 0)) continue;
      std::string branch = "branch " + b.min + (end ? " to " + *end : std::string(" and later"));
      if (compare_versions(at.scheme, version, b.fixed_in) >= 0) {
        d_.superseded_by = version;
        set(Status::superseded, Want::absent,
            "security update installed: " + at.product + " " + version + " >= " + b.fixed_in + " (fixed_in of " + branch + ")");
        return true;
      }
      d_.reasons.push_back(version + " < " + b.fixed_in + " (fixed_in of " + branch + "): security update not installed");
      return false;
    }
    d_.reasons.push_back(version + " is on no branch with a fixed release: security update not available for it");
    return false;
  }

  // The failure of `op` recorded for this id and revision that still applies: none when there is
  // none, or when any input changed since (an operator's fix, a new manifest: retry at once).
  const FailureRecord* live_failure(const std::string& id, std::int64_t revision, const std::string& op) {
    auto it = in_.failures.find(id);
    if (it == in_.failures.end() || it->second.op != op || it->second.revision != revision) return nullptr;
    const FailureRecord& f = it->second;
    if (!f.inputs_digest.empty() && !in_.inputs_digest.empty() && f.inputs_digest != in_.inputs_digest) {
      d_.reasons.push_back("earlier " + op + " failure (" + f.reason + "): inputs changed since, retrying now");
      return nullptr;
    }
    return &f;
  }

  // Holds an apply that failed until its backoff is over (sets d_.retry), or notes the retry.
  void hold_for_failure(const FailureRecord& f) {
    std::string tries = std::to_string(f.attempts) + (f.attempts == 1 ? " attempt" : " attempts");
    std::string hint = "; `mitigctl retry " + d_.id + "` retries now";
    if (f.permanent) {
      d_.retry = Decision::Retry{f.op, f.cause, f.reason, f.attempts, std::nullopt};
      set(Status::failed, Want::hold,
          "NOT IN FORCE: this revision cannot be applied on this server (" + f.reason +
              "); it is retried when the manifest, the inventory or the web server config changes" + hint);
      return;
    }
    if (in_.now < f.retry_after) {
      d_.retry = Decision::Retry{f.op, f.cause, f.reason, f.attempts, f.retry_after};
      bool env = f.cause == "environment";
      set(env ? Status::waiting : Status::failed, Want::hold,
          std::string("NOT IN FORCE: ") + (env ? "waiting for the server (" : "apply failed (") + f.reason + "), " +
              tries + ", next at " + format_utc(f.retry_after) + " or as soon as an input changes" + hint);
      return;
    }
    d_.reasons.push_back("earlier failure (" + f.reason + ", " + tries + "): backoff over, retrying");
  }

  // A revert that failed waits out its backoff too, instead of running again on every trigger.
  void hold_failed_revert() {
    if (d_.want != Want::absent) return;
    const FailureRecord* f = live_failure(d_.id, d_.revision, "revert");
    if (!f || (!f->permanent && in_.now >= f->retry_after)) return;
    std::optional<SysSeconds> at;
    if (!f->permanent) at = f->retry_after;
    d_.retry = Decision::Retry{f->op, f->cause, f->reason, f->attempts, at};
    d_.want = Want::hold;
    d_.summary += "; REVERT FAILED (" + f->reason + "), " + std::to_string(f->attempts) + " attempt(s)" +
                  (at ? ", next at " + format_utc(*at) : "") + "; `mitigctl retry " + d_.id + "` retries now";
    d_.reasons.push_back("=> revert held: " + d_.summary);
  }

 private:
  const DesiredInputs& in_;
  Decision& d_;
};

}  // namespace

bool not_in_force(const Decision& d) {
  return d.status == Status::failed || d.status == Status::waiting || d.status == Status::invalid ||
         (d.retry && d.retry->op == "revert");
}

std::vector<Decision> evaluate_desired(const DesiredInputs& in) {
  std::vector<Decision> out;
  out.reserve(in.manifests->size() + 1);
  std::set<std::string_view> seen;
  for (const Manifest& m : *in.manifests) {
    Decision d;
    d.id = m.id;
    d.revision = m.revision;
    d.manifest = &m;
    Decider decider(in, d);
    decider.decide(m);
    decider.hold_failed_revert();
    seen.insert(m.id);
    out.push_back(std::move(d));
  }
  // A manifest refused with no good revision: reported, and whatever the ledger holds for that
  // id is left as it is (an invalid new version must not switch a protection off).
  for (const InvalidManifest& bad : in.invalid_manifests) {
    if (seen.contains(bad.id)) continue;
    Decision d;
    d.id = bad.id;
    auto held = in.in_ledger.find(bad.id);
    d.revision = held == in.in_ledger.end() ? 0 : held->second;
    d.reasons.push_back(bad.source + ": " + bad.error);
    d.retry = Decision::Retry{"apply", "manifest", bad.error, 0, std::nullopt};
    Decider(in, d).set(Status::invalid, Want::hold,
                       "NOT IN FORCE: the manifest is invalid and no earlier revision was ever valid (" + bad.source +
                           ": " + bad.error + ")" +
                           (held == in.in_ledger.end() ? "" : "; what is applied stays as it is"));
    seen.insert(bad.id);
    out.push_back(std::move(d));
  }
  for (const auto& [id, revision] : in.in_ledger) {
    if (seen.contains(id)) continue;
    Decision d;
    d.id = id;
    d.revision = revision;
    d.reasons.push_back("the ledger holds " + id + " revision " + std::to_string(revision) +
                        " but the feed no longer lists it");
    Decider decider(in, d);
    decider.set(Status::withdrawn, in.policy->auto_revert() ? Want::absent : Want::hold,
                std::string("withdrawn from the feed") +
                    (in.policy->auto_revert() ? "" : " (auto_revert is off: anything applied stays)"));
    decider.hold_failed_revert();
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(), [](const Decision& a, const Decision& b) { return a.id < b.id; });
  return out;
}

}  // namespace mitigd
