#include "daemon/daemon_service.hpp"

#include "daemon/audit_journal.hpp"
#include "daemon/control_server.hpp"
#include "daemon/file_watch.hpp"
#include "daemon/metrics.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/reconcile.hpp"
#include "daemon/run_log.hpp"
#include "daemon/trigger_queue.hpp"
#include "daemon/unit_watch.hpp"
#include "daemon/watch_set.hpp"
#include "state/writer_lock.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include <malloc.h>

#include <deque>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

namespace mitigd {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// What a run on the worker hands back to the event loop.
struct WorkerResult {
  RunReport report;
  std::uint64_t run = 0;
  std::string config_note;  // a SIGHUP's outcome
  bool reload_answered = false;
  std::optional<Config> new_config;  // a SIGHUP's config, swapped in on the loop
  std::vector<std::string> watch_paths, watch_units;
  bool unit_bus_changed = false;
  std::shared_ptr<sd_bus> unit_bus;
  std::string unit_watch_error;
  std::optional<std::pair<std::string, std::map<std::string, RuleOrigin>>> rule_source;  // for metrics
};

// The network is used on the poll timer, at startup, on SIGHUP and when asked; every other
// trigger works from the verified local state.
bool online_trigger(const std::string& why) {
  for (const char* t : {"poll", "startup", "control", "sighup", "retry-request"}) {
    if (why.find(t) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

class Daemon {
 public:
  Daemon(asio::io_context& io, DaemonOptions options, Config config)
      : io_(io), options_(std::move(options)), config_(std::move(config)), poll_timer_(io), drift_timer_(io),
        wake_timer_(io), watchdog_timer_(io), signals_(io, SIGTERM, SIGINT, SIGHUP),
        files_(io, self_writes_, [this] { trigger("files"); }), units_(io, [this] { trigger("unit"); }),
        control_(io, log_, control_handlers()), metrics_server_(io, [this] { return metrics_.render(); }),
        rng_(std::random_device{}()) {}

  ~Daemon() { worker_.join(); }

  int start() {
    std::string holder;
    if (auto lock = state::WriterLock::try_acquire(config_.state_db, &holder)) lock_.emplace(std::move(*lock));
    if (!lock_) {
      log_.log(LOG_ERR, "another writer holds the state database (" + holder + "); not starting");
      return 1;
    }
    signals_.async_wait([this](auto ec, int sig) { on_signal(ec, sig); });
    if (!options_.once) {
      control_.start(config_.control_socket, config_.control_group);
      metrics_server_.start(config_.metrics_listen);
      arm_watchdog();
    }
    log_.log(LOG_NOTICE, "mitigd " MITIGD_VERSION " starting: config " + options_.config_file + ", state " + config_.state_db +
                             ", manifests from " + (config_.feed ? "the signed feed" : config_.manifests_dir) +
                             (config_.control_socket.empty() ? "" : ", control " + config_.control_socket) +
                             (config_.metrics_listen.empty() ? "" : ", metrics http://" + config_.metrics_listen + "/metrics"));
    trigger("startup");
    io_.run();
    return exit_code_;
  }

 private:
  ControlServer::Handlers control_handlers() {
    ControlServer::Handlers h;
    h.status = [this] { return last_ ? run_report_json(*last_) : json::object{{"ok", true}, {"status", "starting"}}; };
    h.change = [this](const ControlRequest& request, ControlServer::Reply reply) {
      if (request.command == "retry") {
        retry_ids_.push_back(request.ids);
        waiters_.emplace_back(queue_.runs_started() + 1, std::move(reply));
        trigger("retry-request");
        return;
      }
      // Answered by the first run that starts after this request.
      waiters_.emplace_back(queue_.runs_started() + 1, std::move(reply));
      trigger("control");
    };
    return h;
  }

  // ---- triggers: everything goes through the queue ------------------------------------------------
  void trigger(const std::string& why) {
    metrics_.count_trigger(why);
    if (stopping_) return;
    queue_.request(why);
    pump();
  }

  void pump() {
    auto now = TriggerQueue::Clock::now();
    if (auto why = queue_.start(now)) {
      start_run(*why);
      return;
    }
    if (auto wake = queue_.next_wake(now)) {
      wake_timer_.expires_at(*wake);
      wake_timer_.async_wait([this](auto ec) {
        if (!ec) pump();
      });
    }
  }

  void start_run(const std::string& why) {
    std::uint64_t run = queue_.runs_started();
    bool reload = std::exchange(reload_requested_, false);
    auto retry = std::exchange(retry_ids_, {});
    // The worker gets its own copy of what it needs; the loop's state is only touched on the loop.
    asio::post(worker_, [this, run, why, reload, retry = std::move(retry)] {
      WorkerResult result = run_on_worker(run, why, reload, retry);
      asio::post(io_, [this, result = std::move(result)]() mutable { on_run_done(std::move(result)); });
    });
  }

  // ---- the worker thread: everything that blocks ------------------------------------------------------
  WorkerResult run_on_worker(std::uint64_t run, const std::string& why, bool reload,
                             const std::vector<std::vector<std::string>>& retry) {
    WorkerResult w;
    w.run = run;
    try {
      if (!store_) {
        store_ = state::Store::open(config_.state_db);
        attach_audit_journal(*store_, "mitigd");
      }
      if (reload) reload_config_on_worker(w);
      if (!engine_) {
        engine_ = std::make_unique<Engine>(worker_config_, runner_, prober_);
        engine_->set_self_writes(&self_writes_);
      }
      for (const auto& ids : retry) clear_failures(*store_, ids, "mitigd (control socket)");
      w.report = reconcile(*engine_, *store_, RunRequest{why, "mitigd", true, online_trigger(why), std::nullopt});
      if (engine_->loaded()) {
        watch_sets(w);
        w.rule_source.emplace(engine_->counters_url(), rule_origins(engine_->inputs().manifests.manifests));
      }
    } catch (const std::exception& e) {
      w.report.error = e.what();
    }
    w.report.trigger = why;
    return w;
  }

  void reload_config_on_worker(WorkerResult& w) {
    w.reload_answered = true;
    auto fresh = load_config(options_.config_file);
    if (!fresh) {
      w.config_note = "config reload refused, keeping the running config: " + fresh.error().message;
      return;
    }
    // The new inputs must load too before anything is swapped.
    auto candidate = std::make_unique<Engine>(*fresh, runner_, prober_);
    candidate->set_self_writes(&self_writes_);
    if (auto loaded = candidate->load(store_.get(), false); !loaded) {
      w.config_note = "config reload refused, keeping the running config: " + loaded.error().message;
      return;
    }
    if (fresh->state_db != worker_config_.state_db) {
      w.config_note = "config reload refused: state_db cannot change while running (restart mitigd)";
      return;
    }
    worker_config_ = *fresh;
    engine_ = std::move(candidate);
    w.new_config = *fresh;
    w.config_note = "config reloaded from " + options_.config_file;
  }

  void watch_sets(WorkerResult& w) {
    WatchSet set = watch_set(worker_config_, engine_->inputs(), store_->ledger());
    w.watch_paths = std::move(set.dirs);
    w.watch_units = std::move(set.units);
    if (w.watch_units != worker_units_ && !options_.once) {
      worker_units_ = w.watch_units;
      if (!w.watch_units.empty()) {
        w.unit_bus = units_.connect(engine_->inputs().inventory.systemd_bus, w.watch_units, w.unit_watch_error);
      }
      w.unit_bus_changed = true;
    }
  }

  // ---- back on the event loop -------------------------------------------------------------------------
  void on_run_done(WorkerResult w) {
    const RunReport& r = w.report;
    queue_.finished(TriggerQueue::Clock::now(), !r.error.empty());
    ::malloc_trim(0);  // idle for minutes between runs: give back what the run freed
    if (!w.config_note.empty()) log_.log(w.new_config ? LOG_NOTICE : LOG_ERR, w.config_note);
    run_log_.after_run(w.run, r);
    metrics_.record_run(r);
    if (w.rule_source) metrics_.set_rule_source(std::move(w.rule_source->first), std::move(w.rule_source->second));
    if (r.feed) metrics_.record_feed(r.feed->expires ? r.feed->expires->time_since_epoch().count() : 0, r.feed->error.empty(), r.feed->expired);
    notify_systemd(w);
    if (!options_.once) {
      if (!w.watch_paths.empty() && w.watch_paths != files_.watched()) {
        // A change made before the new watches existed (during this run) sent no event: look once more.
        if (files_.watch(w.watch_paths)) queue_.request("files");
        else log_.log(LOG_WARNING, "inotify unavailable: changes are picked up by the timers only");
      }
      if (w.unit_bus_changed) attach_units(w);
    }
    if (r.next_retry) {
      auto delay = std::max<std::chrono::seconds>(*r.next_retry - std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()), 1s);
      queue_.request_at("retry", TriggerQueue::Clock::now() + delay);
    }
    last_ = r;
    while (!waiters_.empty() && waiters_.front().first <= w.run) {
      waiters_.front().second(run_report_json(r));
      waiters_.pop_front();
    }
    if (options_.once || stopping_) {
      exit_code_ = options_.once ? (r.converged() && r.inputs_ok ? 0 : 1) : 0;
      return shutdown();
    }
    pump();
  }

  void attach_units(const WorkerResult& w) {
    if (!w.unit_watch_error.empty()) log_.log(LOG_WARNING, w.unit_watch_error);
    units_.attach(w.unit_bus);
    // The watch starts after this run changed the units: a change made in between sent no
    // signal we could hear. Look once more.
    if (units_.active()) queue_.request("unit");
  }

  void notify_systemd(const WorkerResult& w) {
    const RunReport& r = w.report;
    std::ostringstream status;
    status << "run " << w.run << ": ";
    for (const auto& [s, n] : r.by_state) status << n << " " << s << " ";
    if (r.mode == Mode::dry_run) status << "(dry-run)";
    sd_notify(0, ("STATUS=" + status.str()).c_str());
    // READY=1 after the first run, and after every reload, refused or not (RELOADING=1 was sent).
    if (!ready_ || w.reload_answered) sd_notify(0, "READY=1");
    if (!ready_) {
      ready_ = true;
      if (!options_.once) arm_timers();
    } else if (w.new_config) {
      config_ = *w.new_config;  // the loop's copy changes only here, from the worker's result
      arm_timers();
    }
  }

  // ---- timers, signals, shutdown ----------------------------------------------------------------------
  void arm_timers() {
    arm_poll();
    drift_timer_.cancel();
    arm_drift();
  }

  void arm_poll() {
    // Jitter up to 10% so that a fleet started together does not poll in step.
    double jitter = std::uniform_real_distribution<double>(0.0, 0.1)(rng_);
    poll_timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(config_.poll_interval_seconds * (1.0 + jitter))));
    poll_timer_.async_wait([this](auto ec) {
      if (ec) return;
      trigger("poll");
      arm_poll();
    });
  }

  void arm_drift() {
    drift_timer_.expires_after(std::chrono::seconds(config_.drift_interval_seconds));
    drift_timer_.async_wait([this](auto ec) {
      if (ec) return;
      trigger("drift");
      arm_drift();
    });
  }

  void arm_watchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
    watchdog_timer_.expires_after(std::chrono::microseconds(usec / 2));
    watchdog_timer_.async_wait([this](auto ec) {
      if (ec) return;
      sd_notify(0, "WATCHDOG=1");
      arm_watchdog();
    });
  }

  void on_signal(boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      log_.log(LOG_NOTICE, "SIGHUP: reloading the config");
      reload_requested_ = true;
      trigger("sighup");
    } else {
      log_.log(LOG_NOTICE, queue_.running() ? "stopping after the current reconcile" : "stopping");
      stopping_ = true;
      sd_notify(0, "STOPPING=1");
      if (!queue_.running()) shutdown();
    }
    if (!stopping_) signals_.async_wait([this](auto e, int s) { on_signal(e, s); });
  }

  void shutdown() {
    stopping_ = true;
    boost::system::error_code ignored;
    for (auto* t : {&poll_timer_, &drift_timer_, &wake_timer_, &watchdog_timer_}) t->cancel();
    signals_.cancel(ignored);
    files_.close();
    units_.close();
    control_.close();
    metrics_server_.close();
    io_.stop();
  }

  asio::io_context& io_;
  DaemonOptions options_;
  Config config_;  // the loop's copy
  Logger log_;
  RunLog run_log_{log_};
  Metrics metrics_;
  web::SelfWrites self_writes_;  // shared: the driver records on the worker, the watch reads on the loop
  asio::thread_pool worker_{1};
  // Worker-thread state.
  Config worker_config_{config_};
  ProcessRunner runner_;
  HttpProber prober_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<Engine> engine_;
  std::optional<state::WriterLock> lock_;
  std::vector<std::string> worker_units_;
  // Loop-thread state.
  TriggerQueue queue_;
  asio::steady_timer poll_timer_, drift_timer_, wake_timer_, watchdog_timer_;
  asio::signal_set signals_;
  FileWatch files_;
  UnitWatch units_;
  ControlServer control_;
  MetricsServer metrics_server_;
  std::deque<std::pair<std::uint64_t, ControlServer::Reply>> waiters_;
  std::vector<std::vector<std::string>> retry_ids_;
  std::optional<RunReport> last_;
  std::mt19937 rng_;
  bool stopping_ = false, ready_ = false, reload_requested_ = false;
  int exit_code_ = 0;
};

int run_daemon(const DaemonOptions& options) {
  auto config = load_config(options.config_file);
  if (!config) {
    std::cerr << "mitigd: " << config.error().message << "\n";
    return 1;
  }
  asio::io_context io(1);
  Daemon daemon(io, options, *config);
  return daemon.start();
}

}  // namespace mitigd
