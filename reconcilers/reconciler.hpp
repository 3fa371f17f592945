#pragma once
// The interface every reconciler implements: one per family of resources (web rules, systemd
// units). A reconciler reads the system (observe), records what it will change (prior_state),
// makes actions hold (put) and restores what was there before (undo). It never decides what
// should hold: that is the plan's job.
#include "policies/manifest.hpp"
#include "reconcilers/plan.hpp"
#include "state/store.hpp"

#include <map>
#include <string>
#include <vector>

namespace mitigd {

// What rollback() needs to undo one put(): filled by put() as it changes things, so that a put
// that fails halfway can be undone too. A value the caller owns; its text is JSON only the
// reconciler that wrote it reads.
struct Undo {
  std::string text;
  bool empty() const { return text.empty(); }
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual std::string name() const = 0;
  virtual bool handles(ActionKind kind) const = 0;
  // The ledger's name for what this reconciler changes for that action ("web:M1", "unit:x.service").
  virtual std::string resource(const Manifest& m, std::size_t action) const = 0;

  // Fills out.actions for the ledger rows this reconciler owns (by resource prefix) and
  // out.orphans for marked resources no row explains.
  virtual void observe(const std::vector<state::LedgerRecord>& rows, const std::map<std::string, const Manifest*>& manifests,
                       ObservedState& out) = 0;

  // What must be remembered to undo `action` exactly (JSON), read before anything changes.
  virtual Result<std::string> prior_state(const Manifest& m, std::size_t action) = 0;

  // Makes `actions` of m hold. `in_force` lists every action of m this reconciler must leave in
  // force afterwards (a superset of actions). Returns the applied state (JSON) for drift checks.
  // `undo` receives, as it goes, what rollback() needs to put back what was there before.
  virtual Result<std::string> put(const Manifest& m, const std::vector<std::size_t>& actions,
                                  const std::vector<std::size_t>& in_force, Undo& undo) = 0;

  // Undoes one put() (its probes failed, or a later reconciler failed) from the value it filled.
  virtual Result<void> rollback(const Undo& undo) = 0;

  // Whether what put() changes answers at the web listener, so the manifest's probes check it.
  virtual bool probed() const { return false; }
  // Whether put() of a new revision replaces what the ledger holds for the old one in the same
  // step (a rule file rewritten in one reload), so the old revision is not undone first: no
  // unprotected window between the two.
  virtual bool replaces_on_put() const { return false; }

  // Restores the prior state of these rows (all of one mitigation). Idempotent.
  virtual Result<void> undo(const std::vector<state::LedgerRecord>& rows) = 0;

  // Removes a marked resource the ledger does not know.
  virtual Result<void> remove_orphan(const std::string& resource) = 0;
};

}  // namespace mitigd
