#pragma once
// disable_service and the unit half of disable_app_pool: the unit bound to the logical name in
// the inventory is masked (runtime or persistent) and stopped. The exact prior state (active or
// not, unit file state) is recorded first; undo restores exactly that: a unit that was stopped
// and disabled stays so, one that was running is started again, one already masked stays masked.
// Order: mask, then stop (nothing can start it in between); undone in reverse: unmask, then start.
#include "reconcilers/checkpoint.hpp"
#include "reconcilers/reconciler.hpp"
#include "reconcilers/systemd_driver.hpp"

namespace mitigd {

class SystemdReconciler final : public Reconciler {
 public:
  SystemdReconciler(SystemdDriver& driver, const Inventory& inventory) : driver_(driver), inventory_(inventory) {}

  std::string name() const override { return "unit"; }
  void set_checkpoint(Checkpoint c) { checkpoint_ = std::move(c); }
  bool handles(ActionKind kind) const override {
    return kind == ActionKind::disable_service || kind == ActionKind::disable_app_pool;
  }
  std::string resource(const Manifest& m, std::size_t action) const override;
  void observe(const std::vector<state::LedgerRecord>& rows, const std::map<std::string, const Manifest*>& manifests,
               ObservedState& out) override;
  Result<std::string> prior_state(const Manifest& m, std::size_t action) override;
  Result<std::string> put(const Manifest& m, const std::vector<std::size_t>& actions,
                          const std::vector<std::size_t>& in_force, Undo& undo) override;
  Result<void> rollback(const Undo& undo) override;
  Result<void> undo(const std::vector<state::LedgerRecord>& rows) override;
  Result<void> remove_orphan(const std::string& resource) override;

 private:
  Result<std::string> unit_for(const Action& a) const;
  // Restores one unit to a recorded prior state (JSON written by prior_state).
  Result<void> restore(const std::string& unit, const std::string& prior_json);

  SystemdDriver& driver_;
  const Inventory& inventory_;
  Checkpoint checkpoint_;
};

}  // namespace mitigd
