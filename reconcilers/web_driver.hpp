#pragma once
// The front web server as a set of include files we own, changed as one transaction:
// swap the candidate files in, validate the whole config (nginx -t / apachectl -t), reload, and
// put the previous files back (and reload again) when anything fails. The running server only
// ever sees a config that validated. nginx and Apache differ only in what is rendered
// (web_rules) and in the commands the inventory gives.
#include "policies/inventory.hpp"
#include "reconcilers/checkpoint.hpp"
#include "reconcilers/clock.hpp"
#include "reconcilers/command_runner.hpp"
#include "reconcilers/include_dirs.hpp"
#include "reconcilers/prober.hpp"
#include "reconcilers/self_writes.hpp"
#include "reconcilers/web_rules.hpp"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mitigd::web {

using FileKey = std::pair<Context, std::string>;
// The content each file should have afterwards; nullopt deletes it.
using FileSet = std::map<FileKey, std::optional<std::string>>;

// A file set as JSON ([{"context","name","content"|null}]), for the journal and for undo values.
std::string fileset_to_json(const FileSet& files);
Result<FileSet> fileset_from_json(std::string_view text);

class ConfigDirDriver {
 public:
  ConfigDirDriver(WebServer server, CommandRunner& runner, Prober& prober, Clock& clock = system_clock(),
                  IncludeDirs& dirs = disk_include_dirs())
      : server_(std::move(server)), runner_(runner), prober_(prober), clock_(clock), dirs_(dirs) {}

  WebServerKind kind() const { return server_.kind; }
  const WebServer& server() const { return server_; }
  std::string dir_of(Context c) const;

  // Every file in the include dirs that carries our marker, with its content.
  std::map<FileKey, std::string> read_owned() const;

  // Applies `changes` (plus the prelude, kept present exactly while any mitigation file is),
  // validates and reloads. On failure nothing is left changed. On success returns the changes
  // that undo it, for the caller to pass back when its probes fail.
  Result<FileSet> transact(const FileSet& changes);

  // After a crash: removes temporary files, and rolls back a transaction that was interrupted
  // (its journal is still there) to the last validated state, reloaded. The ledger then tells the
  // planner what to redo. Call before applying anything.
  Result<void> recover();
  bool has_pending_journal() const;
  void set_checkpoint(Checkpoint c) { checkpoint_ = std::move(c); }
  // Every write and removal is recorded there (the daemon's watches ignore their own echo).
  void set_self_writes(SelfWrites* writes) { self_writes_ = writes; }

 private:
  Result<void> write_files(const FileSet& files) const;
  Result<void> write_journal(const FileSet& undo, const std::string& new_generation, const std::string& old_generation) const;
  void remove_journal() const;
  std::string journal_path() const;
  Result<void> validate_and_reload();
  Result<void> blame_live_config(const Error& candidate_error);
  Result<void> swap_in(const FileSet& changes, const FileSet& undo, const std::string& new_generation,
                       const std::string& old_generation);
  // A reload is asynchronous: wait until the listener answers for the new generation (or, when
  // the prelude went away, stops answering for the old one).
  // Old workers keep accepting until they process their shutdown, so one answer from the new
  // generation proves little: the new token must answer and the old one must not, three rounds
  // in a row. Either token may be empty (no prelude before, or none after).
  Result<void> wait_for_generation(const std::string& new_generation, const std::string& old_generation);
  WebServer server_;
  CommandRunner& runner_;
  Prober& prober_;
  Clock& clock_;
  IncludeDirs& dirs_;
  Checkpoint checkpoint_;
  SelfWrites* self_writes_ = nullptr;
};

}  // namespace mitigd::web
