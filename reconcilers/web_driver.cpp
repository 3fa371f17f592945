#include "reconcilers/web_driver.hpp"

#include "policies/atomic_file.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace mitigd::web {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ConfigDirDriver::dir_of(Context c) const {
  return c == Context::http ? server_.http_include_dir : server_.server_include_dir;
}

std::map<FileKey, std::string> ConfigDirDriver::read_owned() const {
  std::map<FileKey, std::string> out;
  for (Context c : {Context::http, Context::server}) {
    std::string dir = dir_of(c);
    if (dir.empty()) continue;
    if (c == Context::http && dir == server_.server_include_dir) continue;
    for (auto& [name, text] : dirs_.list(dir, ".conf")) {
      if (read_marker(text)) out[{c, name}] = std::move(text);
    }
  }
  return out;
}

namespace {
constexpr const char* kJournalName = ".mitigd-journal";
}  // namespace

std::string ConfigDirDriver::journal_path() const { return server_.server_include_dir + "/" + kJournalName; }

bool ConfigDirDriver::has_pending_journal() const { return dirs_.exists(server_.server_include_dir, kJournalName); }

namespace {
boost::json::array fileset_array(const FileSet& files) {
  boost::json::array out;
  for (const auto& [key, content] : files) {
    out.push_back(boost::json::object{{"context", key.first == Context::http ? "http" : "server"},
                                      {"name", key.second},
                                      {"content", content ? boost::json::value(*content) : boost::json::value(nullptr)}});
  }
  return out;
}

Result<FileSet> fileset_from_array(const boost::json::value& v, const std::string& what) {
  FileSet out;
  if (!v.is_array()) return make_error(Errc::internal, what + ": not a file list");
  for (const auto& f : v.as_array()) {
    const auto* o = f.if_object();
    const auto* ctx = o ? o->if_contains("context") : nullptr;
    const auto* name = o ? o->if_contains("name") : nullptr;
    const auto* content = o ? o->if_contains("content") : nullptr;
    if (!ctx || !ctx->is_string() || !name || !name->is_string() || !content ||
        !(content->is_string() || content->is_null())) {
      return make_error(Errc::internal, what + ": malformed file entry");
    }
    std::string n(name->as_string());
    if (n.empty() || n.find('/') != std::string::npos || n == "." || n == "..") {
      return make_error(Errc::internal, what + ": bad file name " + n);
    }
    Context c = ctx->as_string() == "http" ? Context::http : Context::server;
    if (content->is_null()) out[{c, n}] = std::nullopt;
    else out[{c, n}] = std::string(content->as_string());
  }
  return out;
}
}  // namespace

std::string fileset_to_json(const FileSet& files) { return boost::json::serialize(fileset_array(files)); }

Result<FileSet> fileset_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) return make_error(Errc::internal, "undo value: not JSON");
  return fileset_from_array(v, "undo value");
}

Result<void> ConfigDirDriver::write_journal(const FileSet& undo, const std::string& new_generation,
                                            const std::string& old_generation) const {
  boost::json::object journal{{"new_generation", new_generation}, {"old_generation", old_generation}, {"undo", fileset_array(undo)}};
  FileSet one;
  one[{Context::server, kJournalName}] = boost::json::serialize(journal);
  return write_files(one);
}

void ConfigDirDriver::remove_journal() const {
  if (self_writes_) self_writes_->removed(journal_path());
  (void)dirs_.remove(server_.server_include_dir, kJournalName);
}

Result<void> ConfigDirDriver::recover() {
  for (Context c : {Context::http, Context::server}) {
    if (!dir_of(c).empty()) dirs_.remove_temporaries(dir_of(c));
  }
  if (!has_pending_journal()) return {};
  std::string text = dirs_.read(server_.server_include_dir, kJournalName).value_or("");
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec);
  if (ec || !doc.is_object()) {
    return make_error(Errc::internal, journal_path() + ": unreadable journal of an interrupted change; inspect the include "
                                                       "dirs, then remove it");
  }
  const auto* undo_list = doc.as_object().if_contains("undo");
  const auto* new_gen = doc.as_object().if_contains("new_generation");
  if (!undo_list || !new_gen || !new_gen->is_string()) {
    return make_error(Errc::internal, journal_path() + ": incomplete journal of an interrupted change; inspect the include dirs, then remove it");
  }
  auto files = fileset_from_array(*undo_list, journal_path());
  if (!files) return files.error();
  FileSet undo = std::move(*files);
  std::string new_generation(new_gen->as_string());
  std::string old_generation;
  for (const auto& [key, content] : undo) {
    if (key.second == kPreludeName && content) old_generation = generation_of(*content);
  }
  // The state before the interrupted change had validated and was serving: put it back and load it.
  if (auto w = write_files(undo); !w) return w.error();
  if (auto r = validate_and_reload(); !r) return r.error();
  if (auto r = wait_for_generation(old_generation, new_generation); !r) return r.error();
  remove_journal();
  return {};
}

Result<void> ConfigDirDriver::write_files(const FileSet& files) const {
  for (const auto& [key, content] : files) {
    std::string path = (fs::path(dir_of(key.first)) / key.second).string();
    if (!content) {
      if (self_writes_) self_writes_->removed(path);
      if (auto r = dirs_.remove(dir_of(key.first), key.second); !r) return r;
      continue;
    }
    if (self_writes_) self_writes_->wrote(path, *content);
    if (auto r = dirs_.write(dir_of(key.first), key.second, *content); !r) return r;
  }
  return {};
}

Result<void> ConfigDirDriver::validate_and_reload() {
  auto check = runner_.run(server_.validate, 30s);
  if (!check) return make_error(Errc::environment, "cannot run " + server_.validate[0] + ": " + check.error().message);
  if (check->exit_code != 0) {
    return make_error(Errc::validation_failed, "the candidate configuration does not validate (" +
                                                   server_.validate[0] + " exit " + std::to_string(check->exit_code) +
                                                   "): " + check->output);
  }
  auto reload = runner_.run(server_.reload, 30s);
  if (!reload) return make_error(Errc::environment, "cannot run " + server_.reload[0] + ": " + reload.error().message);
  if (reload->exit_code != 0) {
    return make_error(Errc::environment, "the web server's reload failed (" + server_.reload[0] + " exit " +
                                             std::to_string(reload->exit_code) + "): " + reload->output);
  }
  return {};
}

// Called with the previous files back in place after a candidate failed to validate: when the
// config as it runs now does not validate either, the cause is outside mitigd (an operator's
// site file, a module that went away) and no mitigation is to blame. Checked only after a
// failure, so that a good change costs one validation, not two.
Result<void> ConfigDirDriver::blame_live_config(const Error& candidate_error) {
  auto live = runner_.run(server_.validate, 30s);
  if (live && live->exit_code == 0) return candidate_error;  // this change broke a valid config
  std::string output = live ? live->output : live.error().message;
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  return make_error(Errc::environment, "the web server's live configuration does not validate without any change by "
                                       "mitigd; fix it and mitigd retries by itself (" + server_.validate[0] +
                                       "): " + output);
}

namespace {
std::string random_token() {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  unsigned char bytes[12] = {};
  urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}
}  // namespace

Result<void> ConfigDirDriver::wait_for_generation(const std::string& new_generation,
                                                  const std::string& old_generation) {
  if (new_generation.empty() && old_generation.empty()) return {};
  auto serving = [&](const std::string& generation, std::string& seen) {
    auto r = prober_.send(server_.probe_url, HttpRequest{"GET", generation_path(generation), {}});
    seen = r ? (r->dropped ? "connection dropped" : "status " + std::to_string(r->status)) : r.error().message;
    return r && !r->dropped && r->status == 204;
  };
  // nginx's master starts the new workers, sleeps 100 ms ("allow new processes to start"), and
  // only then tells the old ones to stop accepting: for that long both generations answer. The
  // old generation's absence only counts once that window is over. Apache's graceful restart
  // has no such window.
  // 15 ms of margin past the 100: the master's SIGQUIT and the old workers closing their listening
  // sockets; the old generation's absence is then still checked three times.
  const auto overlap = server_.kind == WebServerKind::nginx ? 115ms : 0ms;
  const auto reloaded = clock_.steady();
  auto end = reloaded + 10s;
  std::optional<Clock::Steady> new_seen;
  int good_rounds = 0;
  std::string seen;
  while (good_rounds < 3) {
    bool ok = true;
    if (!new_generation.empty()) {
      ok = serving(new_generation, seen);
      if (ok && !new_seen) new_seen = clock_.steady();
    }
    // The window opens at the latest when the new workers answer (or, with no new generation
    // to see, when the reload was requested).
    auto window_over = (new_seen ? *new_seen : reloaded) + overlap;
    if (ok && clock_.steady() < window_over) {
      clock_.sleep_until(window_over);
      continue;
    }
    if (ok && !old_generation.empty()) ok = !serving(old_generation, seen);
    good_rounds = ok ? good_rounds + 1 : 0;
    if (good_rounds >= 3) break;
    if (clock_.steady() >= end) {
      // The reload itself succeeded, so the server block behind probe_url does not include
      // mitigd's files (or probe_url names another listener): a wiring problem, not the rule's.
      return make_error(Errc::environment,
                        "the reload did not take effect within 10 s (" + server_.probe_url + ": " + seen +
                            "): does the server block that answers probe_url include " + server_.server_include_dir +
                            "/*.conf?");
    }
    clock_.sleep_for(2ms);
  }
  return {};
}

// The one sequence every change of the include dirs goes through: journal, write, validate,
// reload, wait for the new generation; on any failure the previous files are put back (and
// reloaded when a reload may have happened), so the server only runs validated configs.
Result<void> ConfigDirDriver::swap_in(const FileSet& changes, const FileSet& undo, const std::string& new_generation,
                                      const std::string& old_generation) {
  if (auto j = write_journal(undo, new_generation, old_generation); !j) return j.error();
  reach(checkpoint_, "web: before writing the candidate files");
  auto r = write_files(changes);
  if (r) {
    reach(checkpoint_, "web: candidate files in place, not validated");
    r = validate_and_reload();
    reach(checkpoint_, "web: validated and reloaded");
  }
  if (r) r = wait_for_generation(new_generation, old_generation);
  reach(checkpoint_, "web: new generation serving");
  if (!r) {
    (void)write_files(undo);
    if (r.error().code != Errc::validation_failed) (void)runner_.run(server_.reload, 30s);
    if (r.error().code == Errc::validation_failed) r = blame_live_config(r.error());
  }
  remove_journal();
  return r;
}

Result<FileSet> ConfigDirDriver::transact(const FileSet& requested) {
  std::map<FileKey, std::string> owned = read_owned();
  FileSet changes = requested;

  // First mitigation on this server: load the prelude alone first, so that the real change has
  // a previous generation whose disappearance proves the old workers no longer accept requests.
  bool adds = std::any_of(changes.begin(), changes.end(), [](const auto& kv) { return kv.second.has_value(); });
  bool has_prelude = std::any_of(owned.begin(), owned.end(), [](const auto& kv) { return kv.first.second == kPreludeName; });
  if (adds && !has_prelude) {
    std::string first = random_token();
    FileSet prelude;
    for (const RenderedFile& f : render_prelude(server_.kind, first, server_.rules_engine)) prelude[{f.context, f.name}] = f.text;
    FileSet remove_prelude;
    for (const auto& kv : prelude) remove_prelude[kv.first] = std::nullopt;
    if (auto r = swap_in(prelude, remove_prelude, first, ""); !r) return r.error();
    owned = read_owned();
  }

  // The prelude exists exactly while some mitigation file does.
  bool any_mitigation = false;
  std::map<FileKey, std::string> after = owned;
  for (const auto& [key, content] : changes) {
    if (content) after[key] = *content;
    else after.erase(key);
  }
  for (const auto& [key, text] : after) {
    if (key.second != kPreludeName) any_mitigation = true;
  }
  if (changes.empty()) return FileSet{};
  // Every transaction gets a new generation, so its reload can be told apart from the last one.
  std::string generation = random_token();
  std::string old_generation;
  for (const RenderedFile& f : render_prelude(server_.kind, generation, server_.rules_engine)) {
    FileKey key{f.context, f.name};
    if (owned.contains(key)) old_generation = generation_of(owned[key]);
    if (any_mitigation) changes[key] = f.text;
    if (!any_mitigation && owned.contains(key)) changes[key] = std::nullopt;
  }

  FileSet undo;
  for (const auto& [key, content] : changes) {
    auto it = owned.find(key);
    if (it != owned.end()) {
      undo[key] = it->second;
    } else {
      // Never overwrite a file that is not ours.
      if (dirs_.exists(dir_of(key.first), key.second)) {
        std::string path = (fs::path(dir_of(key.first)) / key.second).string();
        return make_error(Errc::conflict, path + " exists and does not carry the mitigd marker: not touching it");
      }
      undo[key] = std::nullopt;
    }
  }
  if (auto r = swap_in(changes, undo, any_mitigation ? generation : "", old_generation); !r) return r.error();
  return undo;
}

}  // namespace mitigd::web
