#pragma once
// Rewrite rules, response headers and disabled virtual directories at the front web server.
// All web actions of one mitigation live in that mitigation's own file(s), so a mitigation is
// installed, replaced and removed in one validated reload.
#include "reconcilers/reconciler.hpp"
#include "reconcilers/web_driver.hpp"

#include <set>

namespace mitigd {

class WebRulesReconciler final : public Reconciler {
 public:
  WebRulesReconciler(web::ConfigDirDriver& driver, const Inventory& inventory) : driver_(driver), inventory_(inventory) {}

  std::string name() const override { return "web"; }
  bool handles(ActionKind kind) const override { return web::is_web_action(kind); }
  std::string resource(const Manifest& m, std::size_t) const override { return "web:" + m.id; }
  void observe(const std::vector<state::LedgerRecord>& rows, const std::map<std::string, const Manifest*>& manifests,
               ObservedState& out) override;
  Result<std::string> prior_state(const Manifest& m, std::size_t action) override;
  Result<std::string> put(const Manifest& m, const std::vector<std::size_t>& actions,
                          const std::vector<std::size_t>& in_force, Undo& undo) override;
  Result<void> rollback(const Undo& undo) override;
  bool probed() const override { return true; }
  bool replaces_on_put() const override { return true; }
  Result<void> undo(const std::vector<state::LedgerRecord>& rows) override;
  Result<void> remove_orphan(const std::string& resource) override;

 private:
  // Files of other mitigations that observe() found rendered for another rules engine or mitigd
  // version: re-rendered in the same transaction as the put that comes first, so an engine switch
  // is one validated reload and never a mix of both engines (each alone may not validate).
  void minimise(web::FileSet& changes) const;
  void add_stale_renders(const std::string& except_id, web::FileSet& changes) const;
  Result<void> remove_files(const std::string& id);
  bool rendered_as_today(const Manifest& m, const std::set<std::size_t>& actions,
                         const std::map<web::FileKey, std::string>& owned) const;
  web::ConfigDirDriver& driver_;
  const Inventory& inventory_;
  // From the last observe(): what each stale file should be now (mitigation id -> manifest and the
  // actions its ledger rows record).
  std::map<std::string, std::pair<const Manifest*, std::set<std::size_t>>> stale_;
};

}  // namespace mitigd
