#include "daemon/daemon_service.hpp"

#include "daemon/audit_journal.hpp"
#include "daemon/control_protocol.hpp"
#include "daemon/engine.hpp"
#include "daemon/metrics.hpp"
#include "reconcilers/systemd_driver.hpp"
#include "state/writer_lock.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <systemd/sd-daemon.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>

#include <grp.h>
#include <malloc.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace mitigd {
namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

SysSeconds now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

// Structured logs: to the journal under systemd (JOURNAL_STREAM is set), to stderr otherwise.
class Logger {
 public:
  Logger() : journal_(std::getenv("JOURNAL_STREAM") != nullptr) {}
  void log(int priority, const std::string& message, const std::map<std::string, std::string>& fields = {}) {
    if (journal_) {
      std::vector<std::string> items{"MESSAGE=" + message, "PRIORITY=" + std::to_string(priority),
                                     "SYSLOG_IDENTIFIER=mitigd"};
      for (const auto& [k, v] : fields) items.push_back("MITIGD_" + k + "=" + v);
      std::vector<iovec> iov;
      for (auto& s : items) iov.push_back({s.data(), s.size()});
      sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
      return;
    }
    std::cerr << "mitigd: " << message;
    for (const auto& [k, v] : fields) std::cerr << " " << k << "=" << v;
    std::cerr << std::endl;
  }

 private:
  bool journal_;
};

struct ReconcileReport {
  std::uint64_t run = 0;
  std::string trigger;
  bool inputs_ok = true;
  std::string inputs_error;
  bool ran = false;           // inputs were available (now or from before)
  std::string error;          // the reconcile itself failed (state store, recovery...)
  ApplyOutcome outcome;
  std::size_t steps = 0;
  Mode mode = Mode::enforce;
  std::map<std::string, int> by_status;
  std::optional<SysSeconds> next_retry;
  double seconds = 0;
  std::string summary;
  std::vector<std::string> watch_paths;
  // systemd units to watch over D-Bus; a fresh connection when the set changed (made on the worker,
  // where blocking is fine; only non-blocking processing happens on the event loop).
  std::vector<std::string> watch_units;
  std::shared_ptr<sd_bus> unit_bus;
  std::string unit_watch_error;
  bool unit_bus_changed = false;
  bool config_swapped = false;
  long feed_last_success = 0;
  std::optional<feed::FeedStatus> feed;
};

}  // namespace

class Daemon {
 public:
  Daemon(asio::io_context& io, DaemonOptions options, Config config)
      : io_(io), options_(std::move(options)), config_(std::move(config)), poll_timer_(io), drift_timer_(io),
        retry_timer_(io), debounce_timer_(io), watchdog_timer_(io), signals_(io, SIGTERM, SIGINT, SIGHUP),
        inotify_(io), unit_bus_fd_(io), unit_debounce_timer_(io), rng_(std::random_device{}()) {}

  ~Daemon() { worker_.join(); }

  int start() {
    std::string holder;
    auto lock = state::WriterLock::try_acquire(config_.state_db, &holder);
    if (lock) lock_.emplace(std::move(*lock));
    if (!lock_) {
      log_.log(LOG_ERR, "another writer holds the state database (" + holder + "); not starting");
      return 1;
    }
    signals_.async_wait([this](auto ec, int sig) { on_signal(ec, sig); });
    if (!options_.once) {
      start_control_socket();
      start_metrics();
      arm_watchdog();
    }
    trigger("startup");
    io_.run();
    return exit_code_;
  }

 private:
  // ---- triggers -------------------------------------------------------------------------------
  void trigger(const std::string& why) {
    metrics_.count_trigger(why);
    if (stopping_) return;
    if (running_) {
      pending_ = true;
      pending_reasons_.insert(why);
      return;
    }
    start_reconcile(why);
  }

  void start_reconcile(const std::string& why) {
    running_ = true;
    std::uint64_t run = ++runs_started_;
    bool reload_config = reload_requested_;
    reload_requested_ = false;
    asio::post(worker_, [this, run, why, reload_config] {
      ReconcileReport report = reconcile_on_worker(run, why, reload_config);
      asio::post(io_, [this, report = std::move(report)]() mutable { on_reconcile_done(std::move(report)); });
    });
  }

  // Runs on the worker thread: everything that blocks (files, nginx -t, probes, SQLite) is here.
  ReconcileReport reconcile_on_worker(std::uint64_t run, const std::string& why, bool reload_config) {
    ReconcileReport r;
    r.run = run;
    r.trigger = why;
    auto started = SteadyClock::now();
    try {
      if (!store_) {
        store_ = state::Store::open(config_.state_db);
        attach_audit_journal(*store_, "mitigd");
      }
      if (reload_config) reload_config_on_worker(r);
      if (!engine_) engine_ = std::make_unique<Engine>(config_, runner_, prober_);
      // The network is used on the poll timer, at startup, on SIGHUP and when asked; every other
      // trigger works from the verified local state.
      bool online = why.find("poll") != std::string::npos || why.find("startup") != std::string::npos ||
                    why.find("control") != std::string::npos || why.find("sighup") != std::string::npos;
      auto loaded = engine_->load(store_.get(), online);
      if (!loaded) {
        r.inputs_ok = false;
        r.inputs_error = loaded.error().message;
      } else {
        audit_input_changes();
        if (!engine_->config().feed) r.feed_last_success = now_seconds().time_since_epoch().count();
      }
      if (const auto& fs = engine_->feed_status()) {
        r.feed = *fs;
        if (fs->last_success) r.feed_last_success = fs->last_success->time_since_epoch().count();
        audit_feed_health(*fs);
      }
      if (engine_->loaded()) {
        r.ran = true;
        Plan plan = engine_->plan(*store_, now_seconds());
        r.mode = plan.mode;
        r.steps = plan.steps.size();
        std::string run_id = new_run_id();
        if (!plan.empty() && plan.mode == Mode::enforce) {
          store_->run_begin({run_id, why, "", "", "", ""});
          r.outcome = engine_->apply(plan, *store_, run_id, "mitigd");
          store_->run_finish(run_id, r.outcome.ok() ? "ok" : "failed", plan.digest);
          plan = engine_->plan(*store_, now_seconds());  // statuses after the change
        }
        auto ledger = store_->ledger();
        std::set<std::string> applied;
        for (const auto& l : ledger) applied.insert(l.mitigation_id);
        for (const Decision& d : plan.decisions) {
          std::string status = to_string(d.status);
          if (d.status == Status::applicable) status = applied.contains(d.id) ? "applied" : "pending";
          ++r.by_status[status];
        }
        for (const auto& f : store_->failures()) {
          SysSeconds at{std::chrono::seconds(f.retry_after)};
          if (!f.permanent && (!r.next_retry || at < *r.next_retry)) r.next_retry = at;
        }
        r.watch_paths = watch_paths();
        r.watch_units = watch_units();
        if (r.watch_units != worker_watched_units_) {
          worker_watched_units_ = r.watch_units;
          if (!r.watch_units.empty()) r.unit_bus = connect_unit_watch(r.watch_units, r.unit_watch_error);
          else r.unit_bus = std::shared_ptr<sd_bus>();
          r.unit_bus_changed = true;
        }
      }
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    r.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
    return r;
  }

  void reload_config_on_worker(ReconcileReport& r) {
    auto fresh = load_config(options_.config_file);
    if (!fresh) {
      r.summary = "config reload refused, keeping the running config: " + fresh.error().message;
      return;
    }
    // The new inputs must load too before anything is swapped.
    auto candidate = std::make_unique<Engine>(*fresh, runner_, prober_);
    if (auto loaded = candidate->load(store_.get(), false); !loaded) {
      r.summary = "config reload refused, keeping the running config: " + loaded.error().message;
      return;
    }
    if (fresh->state_db != config_.state_db) {
      r.summary = "config reload refused: state_db cannot change while running (restart mitigd)";
      return;
    }
    config_ = *fresh;
    engine_ = std::move(candidate);
    r.config_swapped = true;
    r.summary = "config reloaded from " + options_.config_file;
  }

  // A feed problem must not go unnoticed: the audit records when updates start failing (and why),
  // when the trusted metadata expires, and when the feed recovers.
  void audit_feed_health(const feed::FeedStatus& fs) {
    std::string state = fs.expired ? "expired" : (fs.online_attempted && !fs.error.empty() ? "failing" : "ok");
    if (!fs.online_attempted && state == "failing") return;
    auto previous = store_->fact_get("feed.health").value_or("ok");
    if (state == previous) return;
    std::string event = state == "ok" ? "feed_recovered" : (state == "expired" ? "feed_expired" : "feed_unreachable");
    std::string message = state == "ok" ? "the signed feed verifies again"
                          : state == "expired"
                              ? "the trusted feed metadata expired at " + (fs.expires ? format_utc(*fs.expires) : "?") +
                                    "; the last verified mitigations stay in force"
                              : "feed update failed, the last verified state stays in force: " + fs.error;
    store_->audit_append({"", event, "", 0, "", "mitigd", message, "{}"});
    store_->fact_set("feed.health", state);
  }

  // Audits what changed in the inputs since the last run: policy files and the manifest set.
  void audit_input_changes() {
    std::string manifests_digest;
    for (const auto& h : engine_->inputs().manifests.sha256) manifests_digest += h.substr(0, 16);
    std::string policy_digest;
    for (const auto* f : {&engine_->inputs().policy.org, &engine_->inputs().policy.server}) {
      std::ifstream in(f->file, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      policy_digest += std::to_string(std::hash<std::string>{}(text)) + ";";
    }
    auto previous_policy = store_->fact_get("policy_digest");
    if (previous_policy != policy_digest) {
      if (previous_policy) store_->audit_append({"", "policy_changed", "", 0, "", "mitigd", "the policy files changed", "{}"});
      store_->fact_set("policy_digest", policy_digest);
    }
    auto previous_manifests = store_->fact_get("manifests_digest");
    if (previous_manifests != manifests_digest) {
      std::string message = "the manifest set changed: " + std::to_string(engine_->inputs().manifests.manifests.size()) + " manifests";
      if (previous_manifests) store_->audit_append({"", "feed_changed", "", 0, "", "mitigd", message, "{}"});
      store_->fact_set("manifests_digest", manifests_digest);
    }
  }

  std::vector<std::string> watch_paths() const {
    std::set<std::string> dirs;
    dirs.insert(config_.policy_dir);
    dirs.insert(config_.policy_dir + "/servers");
    if (!config_.manifests_dir.empty()) dirs.insert(config_.manifests_dir);
    dirs.insert(fs::path(config_.inventory).parent_path().string());
    const Inventory& inv = engine_->inputs().inventory;
    for (const auto& [name, p] : inv.products) {
      if (p.source.kind == VersionSource::Kind::file) dirs.insert(fs::path(p.source.file).parent_path().string());
      if (p.source.kind == VersionSource::Kind::deb_package) dirs.insert(fs::path(p.source.dpkg_status).parent_path().string());
    }
    if (inv.web_server) {
      dirs.insert(inv.web_server->server_include_dir);
      if (!inv.web_server->http_include_dir.empty()) dirs.insert(inv.web_server->http_include_dir);
    }
    return {dirs.begin(), dirs.end()};
  }

  // Units this server's mitigations touch: those the inventory binds and those the ledger holds.
  std::vector<std::string> watch_units() const {
    std::set<std::string> units;
    const Inventory& inv = engine_->inputs().inventory;
    for (const auto& [name, unit] : inv.services) units.insert(unit);
    for (const auto& [name, unit] : inv.app_pools) units.insert(unit);
    for (const auto& row : store_->ledger()) {
      if (row.resource.starts_with("unit:")) units.insert(row.resource.substr(5));
    }
    return {units.begin(), units.end()};
  }

  static int on_unit_signal(sd_bus_message*, void* self, sd_bus_error*) {
    static_cast<Daemon*>(self)->unit_changed_ = true;
    return 0;
  }

  // A bus connection that only listens: PropertiesChanged of each unit, and UnitFilesChanged
  // (mask/unmask). Runs on the worker thread.
  std::shared_ptr<sd_bus> connect_unit_watch(const std::vector<std::string>& units, std::string& error) {
    auto opened = open_systemd_bus(engine_->inputs().inventory.systemd_bus);
    if (!opened) {
      error = opened.error().message + ": unit changes are seen by the drift timer";
      return {};
    }
    sd_bus* bus = *opened;
    std::shared_ptr<sd_bus> owned(bus, [](sd_bus* b) { sd_bus_flush_close_unref(b); });
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                           "Subscribe", &err, nullptr, "");
    sd_bus_error_free(&err);
    for (const auto& unit : units) {
      char* path = nullptr;
      if (r >= 0) r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit.c_str(), &path);
      if (r >= 0) {
        r = sd_bus_match_signal(bus, nullptr, "org.freedesktop.systemd1", path, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_unit_signal, this);
      }
      std::free(path);
    }
    if (r >= 0) {
      r = sd_bus_match_signal(bus, nullptr, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                              "org.freedesktop.systemd1.Manager", "UnitFilesChanged", on_unit_signal, this);
    }
    if (r < 0) {
      error = std::string("cannot watch systemd units over D-Bus (") + std::strerror(-r) + "): unit changes are seen by the drift timer";
      return {};
    }
    return owned;
  }

  // ---- systemd unit changes, on the event loop ---------------------------------------------------
  void attach_unit_bus(std::shared_ptr<sd_bus> bus) {
    boost::system::error_code ignored;
    unit_bus_fd_.close(ignored);
    unit_bus_ = std::move(bus);
    if (!unit_bus_ || options_.once) return;
    unit_bus_fd_.assign(::dup(sd_bus_get_fd(unit_bus_.get())));
    process_unit_bus();
  }

  void process_unit_bus() {
    if (!unit_bus_) return;
    while (sd_bus_process(unit_bus_.get(), nullptr) > 0) {
    }
    if (unit_changed_) {
      unit_changed_ = false;
      // A stop or a mask emits a burst of signals: reconcile once after it.
      unit_debounce_timer_.expires_after(100ms);
      unit_debounce_timer_.async_wait([this](auto e) {
        if (!e) trigger("unit");
      });
    }
    unit_bus_fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](auto ec) {
      if (!ec) process_unit_bus();
    });
  }

  void on_reconcile_done(ReconcileReport r) {
    running_ = false;
    // Between reconciles the daemon sits idle for minutes: give back what the run freed.
    ::malloc_trim(0);
    ++runs_done_;
    if (!r.summary.empty()) log_.log(r.config_swapped ? LOG_NOTICE : LOG_ERR, r.summary);
    if (r.config_swapped) {
      arm_poll();
      arm_drift();
    }
    if (!r.inputs_ok && r.inputs_error != last_inputs_error_) {
      log_.log(LOG_ERR, "inputs refused, the last good ones stay in force: " + r.inputs_error, {{"EVENT", "inputs_invalid"}});
    }
    last_inputs_error_ = r.inputs_ok ? "" : r.inputs_error;
    for (const auto& line : r.outcome.lines) {
      log_.log(line.starts_with("!") ? LOG_ERR : LOG_NOTICE, line, {{"RUN", std::to_string(r.run)}, {"TRIGGER", r.trigger}});
    }
    if (!r.error.empty()) log_.log(LOG_ERR, "reconcile failed: " + r.error);
    metrics_.record_reconcile(r.error.empty() ? (r.outcome.ok() ? "ok" : "failed") : "error", r.seconds, r.by_status,
                              r.inputs_ok, r.feed_last_success);
    if (r.feed) {
      metrics_.record_feed(r.feed->expires ? r.feed->expires->time_since_epoch().count() : 0, r.feed->error.empty(),
                           r.feed->expired);
      std::string feed_problem = r.feed->expired ? "the trusted feed metadata has EXPIRED" : r.feed->error;
      if (feed_problem != last_feed_error_) {
        if (feed_problem.empty()) log_.log(LOG_NOTICE, "feed verifies again", {{"EVENT", "feed_recovered"}});
        else log_.log(LOG_ERR, "feed: " + feed_problem + " (the last verified state stays in force)", {{"EVENT", "feed_problem"}});
        last_feed_error_ = feed_problem;
      }
    }
    std::ostringstream status;
    status << "run " << r.run << ": ";
    for (const auto& [s, n] : r.by_status) status << n << " " << s << " ";
    if (r.mode == Mode::dry_run) status << "(dry-run)";
    last_status_ = status.str();
    sd_notify(0, ("STATUS=" + last_status_).c_str());
    if (!ready_) {
      ready_ = true;
      sd_notify(0, "READY=1");
      if (!options_.once) {
        arm_poll();
        arm_drift();
      }
    } else if (r.config_swapped) {
      sd_notify(0, "READY=1");
    }
    if (!r.watch_paths.empty() && r.watch_paths != watched_paths_ && !options_.once) setup_watches(r.watch_paths);
    if (r.unit_bus_changed) {
      if (!r.unit_watch_error.empty()) log_.log(LOG_WARNING, r.unit_watch_error);
      attach_unit_bus(r.unit_bus);
      // The watch starts after this run changed the units: a change made in between (a unit
      // started by hand right after we stopped it) sent no signal we could hear. Look once more.
      if (unit_bus_ && !options_.once) {
        pending_ = true;
        pending_reasons_.insert("unit");
      }
    }
    if (r.next_retry) arm_retry(*r.next_retry);
    // Answer control clients whose request this run satisfies.
    last_report_ = r;
    while (!waiters_.empty() && waiters_.front().first <= r.run) {
      auto waiter = waiters_.front().second;
      waiters_.pop_front();
      reply(waiter, report_json(r));
    }
    if (options_.once || stopping_) {
      exit_code_ = options_.once ? ((r.error.empty() && r.outcome.ok() && r.inputs_ok) ? 0 : 1) : 0;
      shutdown();
      return;
    }
    if (pending_) {
      pending_ = false;
      std::string reasons;
      for (const auto& p : pending_reasons_) reasons += (reasons.empty() ? "" : "+") + p;
      pending_reasons_.clear();
      start_reconcile(reasons);
    }
  }

  // ---- timers ---------------------------------------------------------------------------------
  void arm_poll() {
    // Jitter up to 10% so that a fleet started together does not poll in step.
    double jitter = std::uniform_real_distribution<double>(0.0, 0.1)(rng_);
    auto interval = std::chrono::duration<double>(config_.poll_interval_seconds * (1.0 + jitter));
    poll_timer_.expires_after(std::chrono::duration_cast<SteadyClock::duration>(interval));
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

  void arm_retry(SysSeconds at) {
    auto delay = at - now_seconds();
    if (delay < 1s) delay = 1s;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([this](auto ec) {
      if (!ec) trigger("retry");
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

  // ---- signals --------------------------------------------------------------------------------
  void on_signal(boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      log_.log(LOG_NOTICE, "SIGHUP: reloading the config");
      reload_requested_ = true;
      trigger("sighup");
    } else {
      log_.log(LOG_NOTICE, running_ ? "stopping after the current reconcile" : "stopping");
      stopping_ = true;
      sd_notify(0, "STOPPING=1");
      if (!running_) shutdown();
    }
    if (!stopping_) signals_.async_wait([this](auto e, int s) { on_signal(e, s); });
  }

  void shutdown() {
    stopping_ = true;
    boost::system::error_code ignored;
    poll_timer_.cancel();
    drift_timer_.cancel();
    retry_timer_.cancel();
    debounce_timer_.cancel();
    watchdog_timer_.cancel();
    signals_.cancel(ignored);
    inotify_.close(ignored);
    unit_debounce_timer_.cancel();
    unit_bus_fd_.close(ignored);
    if (control_) control_->close(ignored);
    if (metrics_acceptor_) metrics_acceptor_->close(ignored);
    if (!config_.control_socket.empty() && control_) ::unlink(config_.control_socket.c_str());
    io_.stop();
  }

  // ---- inotify --------------------------------------------------------------------------------
  void setup_watches(const std::vector<std::string>& paths) {
    boost::system::error_code ignored;
    inotify_.close(ignored);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      log_.log(LOG_WARNING, "inotify unavailable: changes are picked up by the timers only");
      return;
    }
    for (const auto& p : paths) {
      inotify_add_watch(fd, p.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB);
    }
    inotify_.assign(fd);
    watched_paths_ = paths;
    read_inotify();
  }

  void read_inotify() {
    inotify_.async_read_some(asio::buffer(inotify_buffer_), [this](auto ec, std::size_t n) {
      if (ec) return;
      bool relevant = false;
      for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
        auto* ev = reinterpret_cast<const inotify_event*>(inotify_buffer_.data() + off);
        std::string name = ev->len ? ev->name : "";
        // Our own temporary files come and go on every apply.
        if (!name.ends_with(".mitigd-tmp") && !name.ends_with(".mitigctl-tmp") && name != ".mitigd-journal" &&
            !name.ends_with("-journal") && !name.ends_with("-wal") && !name.ends_with("-shm")) {
          relevant = true;
        }
        off += sizeof(inotify_event) + ev->len;
      }
      if (relevant) {
        // A git checkout writes many files: wait a moment and reconcile once.
        debounce_timer_.expires_after(100ms);
        debounce_timer_.async_wait([this](auto e) {
          if (!e) trigger("files");
        });
      }
      read_inotify();
    });
  }

  // ---- control socket -------------------------------------------------------------------------
  void start_control_socket() {
    if (config_.control_socket.empty()) return;
    fs::create_directories(fs::path(config_.control_socket).parent_path());
    ::unlink(config_.control_socket.c_str());
    control_ = std::make_unique<asio::local::stream_protocol::acceptor>(io_);
    asio::local::stream_protocol::endpoint ep(config_.control_socket);
    control_->open(ep.protocol());
    control_->bind(ep);
    control_->listen();
    ::chmod(config_.control_socket.c_str(), 0660);
    if (!config_.control_group.empty()) {
      if (group* g = ::getgrnam(config_.control_group.c_str())) {
        control_gid_ = g->gr_gid;
        if (::chown(config_.control_socket.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
          log_.log(LOG_WARNING, "cannot give the control socket to group " + config_.control_group);
        }
      } else {
        log_.log(LOG_WARNING, "control_group " + config_.control_group + " does not exist: only root may trigger changes");
      }
    }
    accept_control();
  }

  void accept_control() {
    control_->async_accept([this](auto ec, asio::local::stream_protocol::socket socket) {
      if (ec) return;
      auto client = std::make_shared<ControlClient>(std::move(socket));
      read_request(client);
      accept_control();
    });
  }

  struct MetricsClient {
    explicit MetricsClient(asio::ip::tcp::socket s) : first(std::move(s)) {}
    asio::ip::tcp::socket first;
    asio::streambuf second{16384};
  };

  struct ControlClient {
    explicit ControlClient(asio::local::stream_protocol::socket s) : socket(std::move(s)) {}
    asio::local::stream_protocol::socket socket;
    asio::streambuf buffer;
  };

  bool may_change(asio::local::stream_protocol::socket& socket) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    if (cred.uid == 0 || cred.uid == ::getuid()) return true;
    if (!control_gid_) return false;
    return peer_in_group(cred.pid, *control_gid_);
  }

  void read_request(std::shared_ptr<ControlClient> client) {
    asio::async_read_until(client->socket, client->buffer, '\n', [this, client](auto ec, std::size_t) {
      if (ec) return;
      std::istream in(&client->buffer);
      std::string line;
      std::getline(in, line);
      auto request = parse_control_request(line);
      if (!request) {
        reply(client, json::object{{"ok", false}, {"error", request.error().message}});
        return;
      }
      if (*request == "status") {
        reply(client, last_report_ ? report_json(*last_report_) : json::object{{"ok", true}, {"status", "starting"}});
        return;
      }
      if (!may_change(client->socket)) {
        reply(client, json::object{{"ok", false}, {"error", "permission denied: only root or the control group may trigger a reconcile"}});
        return;
      }
      // Answered by the first run that starts after this request.
      waiters_.emplace_back(runs_started_ + 1, client);
      trigger("control");
    });
  }

  void reply(std::shared_ptr<ControlClient> client, const json::value& v) {
    auto text = std::make_shared<std::string>(json::serialize(v) + "\n");
    asio::async_write(client->socket, asio::buffer(*text), [client, text](auto, std::size_t) {
      boost::system::error_code ignored;
      client->socket.shutdown(asio::socket_base::shutdown_both, ignored);
    });
  }

  json::object report_json(const ReconcileReport& r) const {
    json::object by;
    for (const auto& [s, n] : r.by_status) by[s] = n;
    json::array lines;
    for (const auto& l : r.outcome.lines) lines.push_back(json::string(l));
    json::object o{{"ok", r.error.empty() && r.outcome.ok()}, {"run", r.run}, {"trigger", r.trigger},
                   {"applied", r.outcome.applied}, {"reverted", r.outcome.reverted}, {"repaired", r.outcome.repaired},
                   {"failed", r.outcome.failed}, {"lines", lines}, {"mitigations", by}, {"mode", to_string(r.mode)},
                   {"inputs_ok", r.inputs_ok}, {"seconds", r.seconds}};
    if (!r.inputs_ok) o["inputs_error"] = r.inputs_error;
    if (!r.error.empty()) o["error"] = r.error;
    return o;
  }

  // ---- metrics --------------------------------------------------------------------------------
  void start_metrics() {
    if (config_.metrics_listen.empty()) return;
    auto colon = config_.metrics_listen.rfind(':');
    auto address = asio::ip::make_address(config_.metrics_listen.substr(0, colon));
    if (!address.is_loopback()) throw std::runtime_error("metrics_listen must be a loopback address");
    auto port = static_cast<unsigned short>(std::stoi(config_.metrics_listen.substr(colon + 1)));
    metrics_acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(io_, asio::ip::tcp::endpoint(address, port));
    accept_metrics();
  }

  void accept_metrics() {
    metrics_acceptor_->async_accept([this](auto ec, asio::ip::tcp::socket socket) {
      if (ec) return;
      auto client = std::make_shared<MetricsClient>(std::move(socket));
      asio::async_read_until(client->first, client->second, "\r\n\r\n", [this, client](auto e, std::size_t) {
        if (e) return;
        std::istream in(&client->second);
        std::string request_line;
        std::getline(in, request_line);
        std::string body, status = "200 OK";
        if (request_line.starts_with("GET /metrics ") || request_line.starts_with("GET / ")) {
          body = metrics_.render();
        } else {
          status = "404 Not Found";
          body = "not found\n";
        }
        auto text = std::make_shared<std::string>("HTTP/1.1 " + status +
                                                  "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                                                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
        asio::async_write(client->first, asio::buffer(*text), [client, text](auto, std::size_t) {
          boost::system::error_code ignored;
          client->first.shutdown(asio::socket_base::shutdown_both, ignored);
        });
      });
      accept_metrics();
    });
  }

  asio::io_context& io_;
  DaemonOptions options_;
  Config config_;
  Logger log_;
  Metrics metrics_;
  asio::thread_pool worker_{1};
  // Worker-thread state.
  ProcessRunner runner_;
  HttpProber prober_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<Engine> engine_;
  std::optional<state::WriterLock> lock_;
  // Loop-thread state.
  std::string last_feed_error_;
  asio::steady_timer poll_timer_, drift_timer_, retry_timer_, debounce_timer_, watchdog_timer_;
  asio::signal_set signals_;
  asio::posix::stream_descriptor inotify_;
  asio::posix::stream_descriptor unit_bus_fd_;
  asio::steady_timer unit_debounce_timer_;
  std::array<char, 16384> inotify_buffer_{};
  std::vector<std::string> watched_paths_;
  std::vector<std::string> worker_watched_units_;  // touched on the worker thread only
  std::shared_ptr<sd_bus> unit_bus_;
  bool unit_changed_ = false;
  std::unique_ptr<asio::local::stream_protocol::acceptor> control_;
  std::optional<gid_t> control_gid_;
  std::unique_ptr<asio::ip::tcp::acceptor> metrics_acceptor_;
  std::deque<std::pair<std::uint64_t, std::shared_ptr<ControlClient>>> waiters_;
  std::optional<ReconcileReport> last_report_;
  std::string last_status_, last_inputs_error_;
  std::mt19937 rng_;
  std::set<std::string> pending_reasons_;
  std::uint64_t runs_started_ = 0, runs_done_ = 0;
  bool running_ = false, pending_ = false, stopping_ = false, ready_ = false, reload_requested_ = false;
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
