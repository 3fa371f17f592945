#include "daemon/feed_cli.hpp"

#include "daemon/cli_args.hpp"
#include "feed/feed_source.hpp"
#include "feed/publisher.hpp"
#include "feed/tuf_client.hpp"
#include "policies/atomic_file.hpp"
#include "policies/json_input.hpp"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace mitigd {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace {

constexpr const char* kFeedUsage = R"(usage: mitigctl feed COMMAND ...

Publisher (a TUF repository of mitigation manifests; see docs/feed.md):
  keygen --type ed25519|ecdsa|rsa --out PREFIX [--bits N]   writes PREFIX.key (0600) and PREFIX.pub
  init REPO --root PUB... --timestamp PUB... --snapshot PUB... --targets PUB... --mitigations PUB...
       [--threshold ROLE=N]... [--expires ROLE=DAYS]... [--no-consistent-snapshot]
  add REPO MANIFEST...            validate and stage manifests (mitigations/ID.json)
  remove REPO ID...               unstage manifests (they are withdrawn at the next publish)
  set-role REPO ROLE --key PUB... [--threshold N]     new keys for a role (key rotation)
  publish REPO --key KEY... [--keys-dir DIR] [--now TIME]   sign what changed; timestamp always
  verify SOURCE --root ROOT [--targets-url URL] [--proxy URL] [--ca-file PEM]
                                  run the client against REPO dir or metadata URL; check every target

Client (TUF conformance-suite protocol; exit 0 on success, 1 on failure):
  client --metadata-dir DIR init TRUSTED_ROOT
  client --metadata-dir DIR --metadata-url URL refresh
  client --metadata-dir DIR --metadata-url URL --target-name NAME --target-base-url URL
         --target-dir DIR download
)";

SysSeconds now_seconds() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

void fail(const Error& e) { throw ErrorException(e); }

template <class T>
T value_or_fail(Result<T> r) {
  if (!r) fail(r.error());
  return std::move(*r);
}

std::map<std::string, int> role_numbers(const std::vector<std::string>& items, const std::string& option) {
  std::map<std::string, int> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos) throw UsageError(option + " takes ROLE=N, got \"" + item + "\"");
    try {
      out[item.substr(0, eq)] = std::stoi(item.substr(eq + 1));
    } catch (const std::exception&) {
      throw UsageError(option + " takes ROLE=N, got \"" + item + "\"");
    }
  }
  return out;
}

std::string file_url(const fs::path& p) { return "file://" + fs::absolute(p).lexically_normal().string() + "/"; }

int cmd_keygen(const Args& a, bool json_out) {
  auto type = feed::parse_key_type_option(a.value("--type").value_or("ed25519"));
  if (!type) throw UsageError("--type ed25519|ecdsa|rsa");
  auto out = a.value("--out");
  if (!out) throw UsageError("keygen needs --out PREFIX");
  std::size_t bits = a.value("--bits") ? std::stoul(*a.value("--bits")) : 3072;
  auto key = feed::SigningKey::generate(*type, bits);
  auto id = value_or_fail(feed::write_key_pair(key, *out));
  if (json_out) std::cout << json::serialize(json::object{{"keyid", id}, {"private", *out + ".key"}, {"public", *out + ".pub"}}) << "\n";
  else std::cout << "key " << id << ": " << *out << ".key (private, keep offline for root/targets), " << *out << ".pub\n";
  return 0;
}

int cmd_init(const Args& a) {
  if (a.positional().size() != 1) throw UsageError("init REPO ...");
  feed::InitOptions opts;
  auto thresholds = role_numbers(a.values("--threshold"), "--threshold");
  opts.expires_days = role_numbers(a.values("--expires"), "--expires");
  for (const char* role : {"root", "timestamp", "snapshot", "targets", "mitigations"}) {
    feed::RoleSetup s;
    s.public_key_files = a.values(std::string("--") + role);
    s.threshold = thresholds.count(role) ? thresholds[role] : 1;
    opts.roles[role] = s;
  }
  opts.consistent_snapshot = !a.flag("--no-consistent-snapshot");
  auto ok = feed::Repository::init(a.positional()[0], opts);
  if (!ok) fail(ok.error());
  std::cout << a.positional()[0] << ": repository created; stage manifests with `feed add`, then `feed publish`\n";
  return 0;
}

int cmd_publish(const Args& a, bool json_out) {
  if (a.positional().size() != 1) throw UsageError("publish REPO --key KEY...");
  auto repo = value_or_fail(feed::Repository::open(a.positional()[0]));
  std::vector<feed::SigningKey> keys;
  for (const auto& f : a.values("--key")) keys.push_back(value_or_fail(feed::read_private_key(f)));
  if (auto dir = a.value("--keys-dir")) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(*dir)) {
      if (e.path().extension() == ".key") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) keys.push_back(value_or_fail(feed::read_private_key(f.string())));
  }
  std::vector<const feed::SigningKey*> ptrs;
  for (const auto& k : keys) ptrs.push_back(&k);
  SysSeconds now = now_seconds();
  if (auto t = a.value("--now")) {
    auto parsed = parse_utc_timestamp(*t);
    if (!parsed) throw UsageError("--now takes a UTC time like 2026-11-24T00:00:00Z");
    now = *parsed;
  }
  auto report = value_or_fail(repo.publish(ptrs, now));
  if (json_out) {
    json::object versions;
    for (const auto& [r, v] : report.versions) versions[r] = v;
    json::array signed_roles;
    for (const auto& r : report.signed_roles) signed_roles.push_back(json::string(r));
    std::cout << json::serialize(json::object{{"versions", versions}, {"signed", signed_roles}}) << "\n";
  } else {
    std::cout << "published " << repo.dir() << ":";
    for (const auto& [r, v] : report.versions) std::cout << " " << r << "=v" << v;
    std::cout << " (signed:";
    for (const auto& r : report.signed_roles) std::cout << " " << r;
    std::cout << ")\n";
  }
  return 0;
}

int cmd_verify(const Args& a, bool json_out) {
  if (a.positional().size() != 1) throw UsageError("verify SOURCE --root ROOT");
  auto root_file = a.value("--root");
  if (!root_file) throw UsageError("verify needs --root ROOT (the trusted root, provisioned out of band)");
  std::string source = a.positional()[0];
  feed::UpdaterConfig config;
  if (source.find("://") == std::string::npos) {
    config.metadata_url = file_url(fs::path(source) / "metadata");
    config.targets_url = file_url(fs::path(source) / "targets");
  } else {
    config.metadata_url = source;
    config.targets_url = a.value("--targets-url").value_or(source.substr(0, source.rfind("/metadata")) + "/targets/");
  }
  auto root = value_or_fail(json_input::read_file_capped(*root_file, 512 * 1024));
  auto tmp = fs::temp_directory_path() / ("mitigctl-verify-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  struct Cleanup {
    fs::path p;
    ~Cleanup() { std::error_code ec; fs::remove_all(p, ec); }
  } cleanup{tmp};
  feed::DirectoryMetadataStore store(tmp.string());
  feed::HttpOptions http;
  http.proxy = a.value("--proxy").value_or("");
  http.ca_file = a.value("--ca-file").value_or("");
  auto fetcher = feed::make_fetcher(http);
  feed::Updater updater(*fetcher, store, config, now_seconds());
  if (auto ok = updater.load_trusted(root); !ok) fail(ok.error());
  if (auto ok = updater.refresh(); !ok) fail(ok.error());
  auto targets = value_or_fail(updater.all_targets());
  json::array rows;
  for (const auto& t : targets) {
    auto bytes = value_or_fail(updater.download_target(t, ""));
    auto m = parse_manifest("feed:" + t.path, bytes);
    if (!m) fail(m.error());
    rows.push_back(json::object{{"path", t.path}, {"id", m->id}, {"revision", m->revision}, {"length", t.length}});
    if (!json_out) std::cout << "  ok  " << t.path << "  " << m->id << " r" << m->revision << "\n";
  }
  auto expires = updater.expires();
  if (json_out) {
    std::cout << json::serialize(json::object{{"root_version", updater.root().version},
                                              {"expires", expires ? format_utc(*expires) : ""},
                                              {"targets", rows}})
              << "\n";
  } else {
    std::cout << "verified: root v" << updater.root().version << ", " << rows.size() << " manifest(s), expires "
              << (expires ? format_utc(*expires) : "?") << "\n";
  }
  return 0;
}

// The TUF conformance client protocol. Any failure: a message on stderr and exit 1.
int cmd_client(const Args& a) {
  auto dir = a.value("--metadata-dir");
  if (!dir || a.positional().empty()) throw UsageError("client --metadata-dir DIR init|refresh|download ...");
  const std::string& verb = a.positional()[0];
  feed::DirectoryMetadataStore store(*dir);
  auto fetcher = feed::make_fetcher({std::chrono::milliseconds(15000), a.value("--proxy").value_or(""),
                                     a.value("--ca-file").value_or(""), "mitigd/0.1"});
  if (verb == "init") {
    if (a.positional().size() != 2) throw UsageError("client --metadata-dir DIR init TRUSTED_ROOT");
    auto root = value_or_fail(json_input::read_file_capped(a.positional()[1], 512 * 1024));
    fs::create_directories(*dir);
    feed::Updater u(*fetcher, store, {}, now_seconds());
    if (auto ok = u.load_trusted(root); !ok) fail(ok.error());
    return 0;
  }
  auto url = a.value("--metadata-url");
  if (!url) throw UsageError("client " + verb + " needs --metadata-url URL");
  feed::UpdaterConfig config;
  config.metadata_url = *url;
  config.targets_url = a.value("--target-base-url").value_or("");
  feed::Updater u(*fetcher, store, config, now_seconds());
  if (auto ok = u.load_trusted(); !ok) fail(ok.error());
  if (auto ok = u.refresh(); !ok) fail(ok.error());
  if (verb == "refresh") return 0;
  if (verb != "download") throw UsageError("client: unknown command " + verb);
  auto names = a.values("--target-name");  // may repeat (the conformance suite's CLIENT-CLI.md)
  auto target_dir = a.value("--target-dir");
  if (names.empty() || !target_dir || config.targets_url.empty()) {
    throw UsageError("client download needs --target-name, --target-base-url and --target-dir");
  }
  for (const auto& name : names) {
    auto info = value_or_fail(u.find_target(name));
    if (!info) fail(make_error(Errc::not_found, "target " + name + " is not in the trusted metadata"));
    auto dest = fs::path(*target_dir) / feed::url_encode_segment(name);
    if (auto existing = json_input::read_file_capped(dest.string(), static_cast<std::size_t>(info->length) + 1)) {
      if (feed::check_hashes(*existing, info->hashes, info->length, name, true)) continue;  // already have it
    }
    auto bytes = value_or_fail(u.download_target(*info, ""));
    fs::create_directories(*target_dir);
    if (auto w = write_file_atomically(dest.string(), bytes, 0644); !w) fail(w.error());
  }
  return 0;
}

}  // namespace

int run_feed_command(const std::vector<std::string>& argv, bool json_out) {
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
    std::cout << kFeedUsage;
    return argv.empty() ? 1 : 0;
  }
  const std::string verb = argv[0];
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  static const std::set<std::string> kValues{"--type", "--out", "--bits", "--root", "--timestamp", "--snapshot",
                                             "--targets", "--mitigations", "--threshold", "--expires", "--key",
                                             "--keys-dir", "--now", "--metadata-dir", "--metadata-url", "--target-name",
                                             "--target-base-url", "--target-dir", "--targets-url", "--output",
                                             "--proxy", "--ca-file"};
  Args a(rest, kValues, {"--no-consistent-snapshot"});
  if (a.value("--output")) json_out = *a.value("--output") == "json";
  try {
    if (verb == "keygen") return cmd_keygen(a, json_out);
    if (verb == "init") return cmd_init(a);
    if (verb == "publish") return cmd_publish(a, json_out);
    if (verb == "verify") return cmd_verify(a, json_out);
    if (verb == "client") return cmd_client(a);
    if (verb == "add" || verb == "remove") {
      if (a.positional().size() < 2) throw UsageError(verb + " REPO " + (verb == "add" ? "MANIFEST..." : "ID..."));
      auto repo = value_or_fail(feed::Repository::open(a.positional()[0]));
      std::vector<std::string> items(a.positional().begin() + 1, a.positional().end());
      auto ids = value_or_fail(verb == "add" ? repo.add(items) : repo.remove(items));
      for (const auto& id : ids) std::cout << (verb == "add" ? "staged " : "unstaged ") << id << "\n";
      std::cout << "run `mitigctl feed publish " << repo.dir() << " --key ...` to sign and publish\n";
      return 0;
    }
    if (verb == "set-role") {
      if (a.positional().size() != 2) throw UsageError("set-role REPO ROLE --key PUB... [--threshold N]");
      auto repo = value_or_fail(feed::Repository::open(a.positional()[0]));
      feed::RoleSetup s;
      s.public_key_files = a.values("--key");
      s.threshold = a.value("--threshold") ? std::stoi(*a.value("--threshold")) : 1;
      if (auto ok = repo.set_role(a.positional()[1], s); !ok) fail(ok.error());
      std::cout << "role " << a.positional()[1] << " updated; publish with the old and the new keys to rotate\n";
      return 0;
    }
  } catch (const std::invalid_argument&) {
    throw UsageError("a numeric option has a non-numeric value");
  }
  throw UsageError("unknown feed command " + verb);
}

}  // namespace mitigd
