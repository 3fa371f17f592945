#pragma once
// Desired state: a pure function of manifests, policy, inventory, installed versions, the ledger's
// ids and recorded failures, at one reference time. No I/O here.
#include "policies/inventory.hpp"
#include "policies/manifest.hpp"
#include "policies/policy.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace mitigd {

// failed: its own change failed (blamed, retried with backoff); waiting: the environment prevents
// it (the live web config is broken, the service manager is unreachable: nobody is blamed);
// invalid: the manifest itself does not parse or validate and no earlier revision is in force.
enum class Status { applicable, blocked, disabled, not_applicable, superseded, expired, withdrawn, failed, waiting, invalid };
const char* to_string(Status status);

// What the planner should do with a mitigation.
enum class Want {
  present,  // apply, repair drift
  absent,   // revert whatever the ledger holds
  hold,     // leave as it is: neither apply nor revert (auto_revert off, failure backoff, unknown version)
};
const char* to_string(Want want);

struct InstalledVersion {
  std::optional<std::string> version;  // empty: not installed, or unknown when `error` is set
  std::string source;                  // where it was read, for the reasons
  std::string error;                   // why it could not be read
};

struct FailureRecord {
  std::int64_t revision = 0;
  int attempts = 0;
  SysSeconds retry_after{};
  bool permanent = false;  // cause "manifest": only another revision or inventory helps
  std::string reason;
  std::string op = "apply";            // or "revert"
  std::string cause = "mitigation";    // or "environment", "manifest"
  std::string inputs_digest;           // of every input when it failed; a change retries at once
};


struct DesiredInputs {
  const std::vector<Manifest>* manifests = nullptr;
  const Policy* policy = nullptr;
  const Inventory* inventory = nullptr;
  std::map<std::string, InstalledVersion> installed;  // by product name
  std::map<std::string, std::int64_t> in_ledger;      // mitigation id -> applied revision
  std::map<std::string, FailureRecord> failures;      // by mitigation id
  std::string inputs_digest;                          // of every input now (see FailureRecord)
  std::vector<InvalidManifest> invalid_manifests;     // refused, with no good revision to use
  SysSeconds now{};
  // Set when the signed feed's trusted metadata has expired: when the policy says so
  // (on_feed_expiry: revert), every mitigation from it is treated as expired.
  std::optional<SysSeconds> feed_expired_at;
};

struct Decision {
  std::string id;
  std::int64_t revision = 0;          // of the manifest, or of the ledger when withdrawn
  const Manifest* manifest = nullptr;  // null when withdrawn
  Status status = Status::applicable;
  Want want = Want::present;
  std::vector<std::size_t> active_actions;  // actions that have a target on this server
  std::vector<std::string> reasons;         // the decision chain, in the order checked
  std::string summary;                      // the deciding reason, one line
  std::string superseded_by;                // installed version, when superseded
  // Set while the desired state does not hold and mitigd waits before trying again (a failed
  // apply or revert in backoff, or a failure that needs new inputs).
  struct Retry {
    std::string op, cause, reason;
    int attempts = 0;
    std::optional<SysSeconds> at;  // none: only an input change or `mitigctl retry` retries
  };
  std::optional<Retry> retry;
};

// Exactly when the decision leaves the server short of what should hold: an applicable mitigation
// that failed or waits, an invalid manifest, or a revert that failed and waits.
bool not_in_force(const Decision& d);

// One decision per manifest and per ledger id without a manifest; sorted by id.
std::vector<Decision> evaluate_desired(const DesiredInputs& in);

}  // namespace mitigd
