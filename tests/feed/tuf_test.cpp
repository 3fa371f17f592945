// The TUF client and publisher: canonical JSON and path patterns as pure functions, then every
// attack class of the specification against a repository crafted for it and served over real
// HTTP on loopback.
#include "feed/canonical_json.hpp"
#include "feed/feed_source.hpp"
#include "feed/publisher.hpp"
#include "feed/tuf_client.hpp"
#include "tests/feed/loopback_http_server.hpp"

#include <boost/json.hpp>
#include <botan/auto_rng.h>
#include <botan/hex.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

using namespace mitigd;
using namespace mitigd::feed;
namespace fs = std::filesystem;
namespace json = boost::json;
using mitigd::testing::LoopbackHttpServer;

namespace {

const SysSeconds t0 = *parse_utc_timestamp("2026-11-24T12:00:00Z");

struct TempDir {
  fs::path path;
  TempDir() {
    Botan::AutoSeeded_RNG rng;
    path = fs::temp_directory_path() / ("mitigd-tuf-" + Botan::hex_encode(rng.random_vec(6), false));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void spit(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}

// A repository made by the publisher, with its keys, and helpers to craft malicious variants.
struct FeedRepo {
  TempDir tmp;
  std::map<std::string, SigningKey> keys;
  std::optional<Repository> repo;

  explicit FeedRepo(std::map<std::string, int> extra_keys = {}) {
    InitOptions opts;
    for (const char* role : {"root", "timestamp", "snapshot", "targets", "mitigations"}) {
      int n = extra_keys.count(role) ? extra_keys[role] : 1;
      for (int i = 0; i < n; ++i) {
        auto name = std::string(role) + (i ? std::to_string(i) : "");
        keys.emplace(name, SigningKey::generate(KeyType::ed25519));
        REQUIRE(write_key_pair(keys.at(name), (tmp.path / "keys" / name).string()));
        opts.roles[role].public_key_files.push_back((tmp.path / "keys" / (name + ".pub")).string());
      }
      opts.roles[role].threshold = n;
    }
    REQUIRE(Repository::init(dir().string(), opts));
    repo.emplace(*Repository::open(dir().string()));
    REQUIRE(repo->add({MITIGD_SOURCE_DIR "/examples/manifests/M1.json", MITIGD_SOURCE_DIR "/examples/manifests/M2.json"}));
    REQUIRE(publish(t0));
  }
  fs::path dir() const { return tmp.path / "repo"; }
  fs::path meta(const std::string& name) const { return dir() / "metadata" / name; }
  std::vector<const SigningKey*> all_keys() const {
    std::vector<const SigningKey*> out;
    for (const auto& [_, k] : keys) out.push_back(&k);
    return out;
  }
  Result<PublishReport> publish(SysSeconds now) { return repo->publish(all_keys(), now); }
  const SigningKey* key(const std::string& name) const { return &keys.at(name); }
  SigningKey& add_key(const std::string& name) {
    keys.emplace(name, SigningKey::generate(KeyType::ed25519));
    REQUIRE(write_key_pair(keys.at(name), (tmp.path / "keys" / name).string()));
    return keys.at(name);
  }
  std::string pub(const std::string& name) const { return (tmp.path / "keys" / (name + ".pub")).string(); }

  json::object signed_of(const std::string& file) const { return json::parse(slurp(meta(file))).at("signed").as_object(); }
  void write_signed(const std::string& file, const json::object& s, const std::vector<const SigningKey*>& signers) const {
    spit(meta(file), sign_metadata(s, signers));
  }
  // A new snapshot listing `meta` and a new timestamp naming it (with length and hash unless told).
  void publish_snapshot(const json::object& snapshot_meta, bool hash_in_timestamp = true) const {
    auto snap = signed_of("snapshot.json");
    auto ts = signed_of("timestamp.json");
    auto v = snap.at("version").as_int64() + 1;
    snap["version"] = v;
    snap["meta"] = snapshot_meta;
    write_signed(std::to_string(v) + ".snapshot.json", snap, {key("snapshot")});
    spit(meta("snapshot.json"), slurp(meta(std::to_string(v) + ".snapshot.json")));
    write_timestamp(v, hash_in_timestamp);
  }
  void write_timestamp(std::int64_t snapshot_version, bool with_hash,
                       std::vector<const SigningKey*> signers = {}) const {
    auto ts = signed_of("timestamp.json");
    ts["version"] = ts.at("version").as_int64() + 1;
    ts["expires"] = format_utc(t0 + std::chrono::days(30));
    json::object m{{"version", snapshot_version}};
    if (with_hash) {
      auto bytes = slurp(meta(std::to_string(snapshot_version) + ".snapshot.json"));
      m["length"] = bytes.size();
      m["hashes"] = json::object{{"sha256", sha256_hex(bytes)}};
    }
    ts["meta"] = json::object{{"snapshot.json", m}};
    if (signers.empty()) signers = {key("timestamp")};
    write_signed("timestamp.json", ts, signers);
  }
};

// The client as the daemon runs it: trusted metadata in the state store (the conformance
// client's directory store is checked separately).
struct Client {
  TempDir tmp;
  std::unique_ptr<state::Store> db = state::Store::open((tmp.path / "state.db").string());
  StoreMetadataStore store{*db};
  std::unique_ptr<Fetcher> fetcher;
  UpdaterConfig config;
  std::string trusted_root;

  Client(const FeedRepo& repo, LoopbackHttpServer& server, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    fetcher = make_fetcher({timeout, "", "", "mitigd-test"});
    config.metadata_url = server.url("metadata/");
    config.targets_url = server.url("targets/");
    trusted_root = slurp(repo.meta("1.root.json"));
  }
  std::optional<Updater> updater;
  Result<void> refresh(SysSeconds now) {
    updater.emplace(*fetcher, store, config, now);
    if (auto ok = updater->load_trusted(trusted_root); !ok) return ok;
    return updater->refresh();
  }
  // refresh, then every target's verified bytes
  Result<std::map<std::string, std::string>> fetch_all(SysSeconds now) {
    if (auto ok = refresh(now); !ok) return ok.error();
    auto targets = updater->all_targets();
    if (!targets) return targets.error();
    std::map<std::string, std::string> out;
    for (const auto& t : *targets) {
      auto bytes = updater->download_target(t, "");
      if (!bytes) return bytes.error();
      out[t.path] = *bytes;
    }
    return out;
  }
};

bool fails_with(const Result<void>& r, const std::string& text) {
  if (r) return false;
  INFO(r.error().message);
  return r.error().message.find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("canonical JSON sorts keys, escapes only quote and backslash, refuses floats", "[feed]") {
  auto v = json::parse(R"({"b":1,"a":[true,null,"x\"y\\z"],"c":{"z":-2,"A":"line\nbreak"}})");
  CHECK(canonical_json(v).value() == "{\"a\":[true,null,\"x\\\"y\\\\z\"],\"b\":1,\"c\":{\"A\":\"line\nbreak\",\"z\":-2}}");
  CHECK_FALSE(canonical_json(json::parse(R"({"a":1.5})")));
}

TEST_CASE("TUF path patterns match segment by segment, '*' never crosses '/'", "[feed]") {
  CHECK(path_pattern_matches("mitigations/*", "mitigations/M1.json"));
  CHECK_FALSE(path_pattern_matches("mitigations/*", "mitigations/sub/M1.json"));
  CHECK_FALSE(path_pattern_matches("mitigations/*", "other/M1.json"));
  CHECK(path_pattern_matches("*/M?.json", "mitigations/M1.json"));
  CHECK(path_pattern_matches("m/[a-c]*.json", "m/b1.json"));
  CHECK_FALSE(path_pattern_matches("m/[!a-c]*.json", "m/b1.json"));
  CHECK(path_pattern_matches("*", "anything.json"));
  CHECK_FALSE(path_pattern_matches("*", "a/b"));
}

TEST_CASE("keys of every scheme sign and verify, a signature by another key does not verify", "[feed]") {
  for (auto type : {KeyType::ed25519, KeyType::ecdsa_p256, KeyType::rsa_pss}) {
    auto k = SigningKey::generate(type, 2048);
    auto pub = PublicKey::from_json(k.public_json(), "test");
    REQUIRE(pub);
    CHECK(pub->keyid() == k.keyid());
    auto sig = k.sign("message");
    CHECK(pub->verify("message", sig));
    CHECK_FALSE(pub->verify("messagE", sig));
    auto other = SigningKey::generate(type, 2048);
    CHECK_FALSE(pub->verify("message", other.sign("message")));
    auto pem = k.to_pkcs8_pem();
    auto back = SigningKey::from_pkcs8_pem(pem, "k.key");
    REQUIRE(back);
    CHECK(back->keyid() == k.keyid());
  }
}

TEST_CASE("a fresh client verifies the published feed over HTTP and downloads every manifest", "[feed]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  auto all = client.fetch_all(t0);
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK(all->at("mitigations/M1.json") == slurp(MITIGD_SOURCE_DIR "/examples/manifests/M1.json"));
  CHECK(client.updater->root().version == 1);
}

TEST_CASE("an unchanged feed costs one conditional timestamp request", "[feed]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  REQUIRE(client.fetch_all(t0));
  REQUIRE(client.refresh(t0 + std::chrono::minutes(5)));
  CHECK(server.not_modified() == 1);
  CHECK(server.requests("metadata/1.snapshot.json") == 1);
  CHECK(server.requests("metadata/1.mitigations.json") == 1);
  CHECK_FALSE(client.updater->changed());
}

TEST_CASE("attack: arbitrary or tampered target bytes are refused before parsing", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  auto m1 = slurp(MITIGD_SOURCE_DIR "/examples/manifests/M1.json");
  auto path = repo.dir() / "targets" / "mitigations" / (sha256_hex(m1) + ".M1.json");
  auto evil = m1;
  evil[evil.find("\"title\"") + 10] ^= 1;  // same length, different bytes
  spit(path, evil);
  Client client(repo, server);
  auto all = client.fetch_all(t0);
  REQUIRE_FALSE(all);
  CHECK(all.error().message.find("sha256 does not match") != std::string::npos);
}

TEST_CASE("attack: metadata edited without its signature is refused", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  auto doc = json::parse(slurp(repo.meta("1.mitigations.json")));
  doc.at("signed").as_object()["expires"] = "2099-01-01T00:00:00Z";
  spit(repo.meta("1.mitigations.json"), json::serialize(doc));
  Client client(repo, server);
  auto all = client.fetch_all(t0);
  REQUIRE_FALSE(all);
  CHECK(all.error().message.find("0 valid signature(s)") != std::string::npos);
}

TEST_CASE("attack: rollback of timestamp, snapshot, targets and delegated targets", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  auto old_timestamp = slurp(repo.meta("timestamp.json"));
  REQUIRE(repo.repo->remove({"M2"}));
  REQUIRE(repo.publish(t0 + std::chrono::hours(1)));  // mitigations v2, snapshot v2, timestamp v2
  Client client(repo, server);
  REQUIRE(client.fetch_all(t0 + std::chrono::hours(1)));

  SECTION("timestamp") {
    spit(repo.meta("timestamp.json"), old_timestamp);
    CHECK(fails_with(client.refresh(t0 + std::chrono::hours(2)), "older than the trusted version"));
  }
  SECTION("snapshot (a newer timestamp naming an older snapshot)") {
    repo.write_timestamp(1, true);
    CHECK(fails_with(client.refresh(t0 + std::chrono::hours(2)), "meta.snapshot.json: version 1 is older"));
  }
  SECTION("delegated targets (a newer snapshot naming an older mitigations.json)") {
    repo.publish_snapshot(json::object{{"targets.json", json::object{{"version", 1}}},
                                       {"mitigations.json", json::object{{"version", 1}}}});
    CHECK(fails_with(client.refresh(t0 + std::chrono::hours(2)), "meta.mitigations.json: version 1 is older"));
  }
  SECTION("top-level targets") {
    auto targets = repo.signed_of("1.targets.json");
    targets["version"] = 2;
    repo.write_signed("2.targets.json", targets, {repo.key("targets")});
    repo.publish_snapshot(json::object{{"targets.json", json::object{{"version", 2}}},
                                       {"mitigations.json", json::object{{"version", 2}}}});
    REQUIRE(client.refresh(t0 + std::chrono::hours(2)));
    repo.publish_snapshot(json::object{{"targets.json", json::object{{"version", 1}}},
                                       {"mitigations.json", json::object{{"version", 2}}}});
    CHECK(fails_with(client.refresh(t0 + std::chrono::hours(3)), "meta.targets.json: version 1 is older"));
  }
  SECTION("root (N+1.root.json carrying version N)") {
    auto root = repo.signed_of("1.root.json");
    spit(repo.meta("2.root.json"), sign_metadata(root, {repo.key("root")}));
    CHECK(fails_with(client.refresh(t0 + std::chrono::hours(2)), "2.root.json: signed.version is 1, expected 2"));
  }
}

TEST_CASE("attack: indefinite freeze — expired metadata is refused, even when served as unchanged", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  REQUIRE(client.refresh(t0));
  // The mirror keeps serving the same (now expired) timestamp; the client must notice.
  CHECK(fails_with(client.refresh(t0 + std::chrono::hours(25)), "timestamp.json expired at"));
  CHECK(fails_with(client.refresh(t0 + std::chrono::days(400)), "root.json (version 1) expired at"));
  // A fresh timestamp over an expired snapshot.
  repo.write_timestamp(1, true);
  CHECK(fails_with(client.refresh(t0 + std::chrono::days(8)), "snapshot.json expired at"));
}

TEST_CASE("attack: endless data is cut off at the size cap", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  server.set_behaviour("metadata/timestamp.json", LoopbackHttpServer::Behaviour::endless);
  Client client(repo, server);
  CHECK(fails_with(client.refresh(t0), "larger than the limit of 16384 bytes"));
  // A target that is longer than its trusted length is cut off the same way.
  server.set_behaviour("metadata/timestamp.json", LoopbackHttpServer::Behaviour::normal);
  auto m1 = slurp(MITIGD_SOURCE_DIR "/examples/manifests/M1.json");
  server.set_behaviour("targets/mitigations/" + sha256_hex(m1) + ".M1.json", LoopbackHttpServer::Behaviour::endless);
  auto all = client.fetch_all(t0);
  REQUIRE_FALSE(all);
  CHECK(all.error().message.find("larger than the limit of " + std::to_string(m1.size())) != std::string::npos);
}

TEST_CASE("attack: slow retrieval is cut off by the deadline", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  server.set_behaviour("metadata/timestamp.json", LoopbackHttpServer::Behaviour::slow);
  Client client(repo, server, std::chrono::milliseconds(1500));
  auto start = std::chrono::steady_clock::now();
  auto r = client.refresh(t0);
  CHECK(fails_with(r, "no complete answer within 1500 ms"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("attack: mix-and-match — a snapshot of another version under the expected name", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  REQUIRE(client.refresh(t0));
  // The timestamp names snapshot v2 without a hash; the mirror serves the old v1 as 2.snapshot.json.
  spit(repo.meta("2.snapshot.json"), slurp(repo.meta("1.snapshot.json")));
  repo.write_timestamp(2, false);
  CHECK(fails_with(client.refresh(t0), "snapshot.json: version 1 is not the version 2 the timestamp names"));
}

TEST_CASE("attack: signatures below the threshold, and duplicate signatures, do not count", "[feed][attack]") {
  FeedRepo repo({{"timestamp", 2}});
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  REQUIRE(client.refresh(t0));  // both timestamp keys signed

  SECTION("one of two") {
    repo.write_timestamp(1, true, {repo.key("timestamp")});
    CHECK(fails_with(client.refresh(t0), "1 valid signature(s) from the timestamp role's keys, threshold is 2"));
  }
  SECTION("the same key twice: the file is refused (each keyid must appear once)") {
    repo.write_timestamp(1, true, {repo.key("timestamp"), repo.key("timestamp")});
    CHECK(fails_with(client.refresh(t0), "signs twice"));
  }
  SECTION("the same key listed under two key ids") {
    auto root = repo.signed_of("1.root.json");
    auto keyid = repo.key("timestamp")->keyid();
    std::string alias(64, 'a');
    root["version"] = 2;
    root["keys"].as_object()[alias] = root["keys"].as_object()[keyid];
    root["roles"].as_object()["timestamp"] = json::object{{"keyids", json::array{keyid, alias}}, {"threshold", 2}};
    repo.write_signed("2.root.json", root, {repo.key("root")});
    auto ts = repo.signed_of("timestamp.json");
    ts["version"] = ts.at("version").as_int64() + 1;
    auto canonical = canonical_json(ts).value();
    auto sig = repo.key("timestamp")->sign(canonical);
    json::object env{{"signatures", json::array{json::object{{"keyid", keyid}, {"sig", sig}},
                                                json::object{{"keyid", alias}, {"sig", sig}}}},
                     {"signed", ts}};
    spit(repo.meta("timestamp.json"), json::serialize(env));
    CHECK(fails_with(client.refresh(t0), "1 valid signature(s) from the timestamp role's keys, threshold is 2"));
  }
}

TEST_CASE("attack: key rotation — a compromised old key is worthless after the rotation", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  REQUIRE(client.refresh(t0));

  // Rotate the timestamp key, then the root key; the client follows the root chain.
  repo.add_key("timestamp_new");
  REQUIRE(repo.repo->set_role("timestamp", {{repo.pub("timestamp_new")}, 1}));
  REQUIRE(repo.publish(t0 + std::chrono::hours(1)));
  repo.add_key("root_new");
  REQUIRE(repo.repo->set_role("root", {{repo.pub("root_new")}, 1}));
  REQUIRE(repo.publish(t0 + std::chrono::hours(2)));
  REQUIRE(client.refresh(t0 + std::chrono::hours(2)));
  CHECK(client.updater->root().version == 3);

  SECTION("the old timestamp key signs a newer timestamp") {
    repo.write_timestamp(repo.signed_of("timestamp.json").at("meta").at("snapshot.json").at("version").as_int64(), true,
                         {repo.key("timestamp")});
    CHECK(fails_with(client.refresh(t0 + std::chrono::hours(3)), "0 valid signature(s) from the timestamp role's keys"));
  }
  SECTION("the old root key signs a next root") {
    auto root = repo.signed_of("3.root.json");
    root["version"] = 4;
    root["roles"].as_object()["root"] = json::object{{"keyids", json::array{repo.key("root")->keyid()}}, {"threshold", 1}};
    root["keys"].as_object()[repo.key("root")->keyid()] = repo.key("root")->public_json();
    repo.write_signed("4.root.json", root, {repo.key("root")});
    CHECK(fails_with(client.refresh(t0 + std::chrono::hours(3)), "4.root.json: 0 valid signature(s) from the trusted root"));
  }
}

TEST_CASE("attack: a role delegated by two parents is trusted only through the parent whose keys signed it", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  auto& ka = repo.add_key("A");
  auto& kb = repo.add_key("B");
  auto& kxa = repo.add_key("XA");
  auto& kxb = repo.add_key("XB");
  auto expires = format_utc(t0 + std::chrono::days(30));
  auto delegation = [&](const std::string& name, const SigningKey& k, const std::string& pattern) {
    return json::object{{"keys", json::object{{k.keyid(), k.public_json()}}},
                        {"roles", json::array{json::object{{"name", name},
                                                           {"keyids", json::array{k.keyid()}},
                                                           {"threshold", 1},
                                                           {"terminating", false},
                                                           {"paths", json::array{pattern}}}}}};
  };
  auto targets_md = [&](std::optional<json::object> delegations, json::object targets) {
    json::object s{{"_type", "targets"}, {"spec_version", "1.0.31"}, {"version", 1}, {"expires", expires},
                   {"targets", std::move(targets)}};
    if (delegations) s["delegations"] = *delegations;
    return s;
  };
  // targets -> A (a/*) and B (b/*); A -> X with key XA; B -> X with key XB. X is signed by XB.
  auto top = repo.signed_of("1.targets.json");
  top["version"] = 2;
  json::object both = delegation("A", ka, "a/*");
  both["keys"].as_object()[kb.keyid()] = kb.public_json();
  both["roles"].as_array().push_back(delegation("B", kb, "b/*")["roles"].as_array()[0]);
  top["delegations"] = both;
  repo.write_signed("2.targets.json", top, {repo.key("targets")});
  repo.write_signed("1.A.json", targets_md(delegation("X", kxa, "a/*"), {}), {&ka});
  repo.write_signed("1.B.json", targets_md(delegation("X", kxb, "b/*"), {}), {&kb});
  std::string payload = "{}";
  spit(repo.dir() / "targets" / "a" / (sha256_hex(payload) + ".evil"), payload);
  spit(repo.dir() / "targets" / "b" / (sha256_hex(payload) + ".good"), payload);
  auto entry = json::object{{"length", payload.size()}, {"hashes", json::object{{"sha256", sha256_hex(payload)}}}};
  repo.write_signed("1.X.json", targets_md(std::nullopt, {{"a/evil", entry}, {"b/good", entry}}), {&kxb});
  repo.publish_snapshot(json::object{{"targets.json", json::object{{"version", 2}}},
                                     {"mitigations.json", json::object{{"version", 1}}},
                                     {"A.json", json::object{{"version", 1}}},
                                     {"B.json", json::object{{"version", 1}}},
                                     {"X.json", json::object{{"version", 1}}}});
  Client client(repo, server);
  REQUIRE(client.refresh(t0));
  auto good = client.updater->find_target("b/good");
  REQUIRE(good);
  REQUIRE(*good);
  auto evil = client.updater->find_target("a/evil");
  CHECK((!evil || !*evil));
  if (!evil) CHECK(evil.error().message.find("X.json (delegated by A): 0 valid signature(s)") != std::string::npos);
}

TEST_CASE("terminating delegations stop the search, and a path outside the patterns is not resolved", "[feed]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  REQUIRE(client.refresh(t0));
  auto m1 = client.updater->find_target("mitigations/M1.json");
  REQUIRE(m1);
  CHECK(*m1);
  auto none = client.updater->find_target("elsewhere/M1.json");
  REQUIRE(none);
  CHECK_FALSE(*none);
}

TEST_CASE("publisher: a publish re-signs only what changed, and the timestamp always", "[feed]") {
  FeedRepo repo;
  auto again = repo.publish(t0 + std::chrono::hours(1));
  REQUIRE(again);
  CHECK(again->signed_roles == std::vector<std::string>{"timestamp"});
  REQUIRE(repo.repo->remove({"M1"}));
  // Without the offline targets key: only the delegated role, snapshot and timestamp need signing.
  std::vector<const SigningKey*> online{repo.key("mitigations"), repo.key("snapshot"), repo.key("timestamp")};
  auto r = repo.repo->publish(online, t0 + std::chrono::hours(2));
  REQUIRE(r);
  CHECK(r->versions.at("mitigations") == 2);
  CHECK(r->versions.at("targets") == 1);
  // A role that must be signed without its key is a clear error.
  REQUIRE(repo.repo->set_role("targets", {{repo.pub("mitigations")}, 1}));
  auto refused = repo.repo->publish(online, t0 + std::chrono::hours(3));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("role root must be signed") != std::string::npos);
}

TEST_CASE("attack: rollback is still caught after a run stored a new timestamp but failed to fetch its snapshot", "[feed][attack]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  REQUIRE(client.fetch_all(t0));
  // Publish a new version; the snapshot download fails once (endless data) after the timestamp
  // was accepted and stored.
  REQUIRE(repo.repo->remove({"M2"}));
  REQUIRE(repo.publish(t0 + std::chrono::hours(1)));
  server.set_behaviour("metadata/2.snapshot.json", LoopbackHttpServer::Behaviour::endless);
  CHECK_FALSE(client.refresh(t0 + std::chrono::hours(1)));
  server.set_behaviour("metadata/2.snapshot.json", LoopbackHttpServer::Behaviour::normal);
  // The next snapshot drops mitigations.json (a rollback by omission); the trusted snapshot to
  // compare with is the old one, whose hash the stored newer timestamp no longer lists.
  repo.publish_snapshot(json::object{{"targets.json", json::object{{"version", 1}}}});
  CHECK(fails_with(client.refresh(t0 + std::chrono::hours(2)), "mitigations.json is no longer listed (rollback attack?)"));
}

TEST_CASE("the conformance client's metadata directory holds exactly one ROLE.json per trusted role", "[feed]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  TempDir dir;
  DirectoryMetadataStore store(dir.path.string());
  auto fetcher = make_fetcher({std::chrono::milliseconds(5000), "", "", "mitigd-test"});
  Updater u(*fetcher, store, {server.url("metadata/"), server.url("targets/"), {}}, t0);
  REQUIRE(u.load_trusted(slurp(repo.meta("1.root.json"))));
  REQUIRE(u.refresh());
  REQUIRE(u.find_target("mitigations/M1.json"));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.path)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"mitigations.json", "root.json", "snapshot.json", "targets.json", "timestamp.json"});
}

TEST_CASE("a key of an unsupported type is left out, not fatal: thresholds count the keys that remain", "[feed]") {
  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  Client client(repo, server);
  REQUIRE(client.refresh(t0));
  auto root = repo.signed_of("1.root.json");
  root["version"] = 2;
  std::string other(64, 'b');
  root["keys"].as_object()[other] =
      json::object{{"keytype", "sphincs"}, {"scheme", "sphincs-shake-256f"}, {"keyval", json::object{{"public", "00"}}}};
  auto& ts_role = root["roles"].as_object()["timestamp"].as_object();
  ts_role["keyids"].as_array().push_back(json::string(other));
  repo.write_signed("2.root.json", root, {repo.key("root")});
  REQUIRE(client.refresh(t0));
  CHECK(client.updater->root().version == 2);
  // With the threshold raised to 2, the unusable key cannot make up the difference.
  root["version"] = 3;
  ts_role["threshold"] = 2;
  repo.write_signed("3.root.json", root, {repo.key("root")});
  repo.write_timestamp(1, true);
  CHECK(fails_with(client.refresh(t0), "1 valid signature(s) from the timestamp role's keys, threshold is 2"));
}

TEST_CASE("TAP 15 succinct hashed bins: a path resolves through its bin only, and listing walks the listed bins", "[feed]") {
  SuccinctRoles sr{{}, 3, "bin", };
  // Bins are the first 3 bits of sha256(path), one hex digit.
  for (const std::string path : {"a.txt", "mitigations/M1.json", "x/y/z"}) {
    auto h = sha256_hex(path);
    unsigned first = static_cast<unsigned>(std::stoul(h.substr(0, 8), nullptr, 16)) >> 29;
    CHECK(sr.role_for(path) == "bin-" + std::string(1, "01234567"[first]));
    CHECK(sr.is_bin(sr.role_for(path)));
  }
  CHECK_FALSE(sr.is_bin("bin-8"));
  CHECK_FALSE(sr.is_bin("bin-00"));
  CHECK_FALSE(sr.is_bin("other-1"));

  FeedRepo repo;
  LoopbackHttpServer server(repo.dir());
  auto& kb = repo.add_key("bins");
  auto expires = format_utc(t0 + std::chrono::days(30));
  std::string payload = "{}";
  const SuccinctRoles bins{{}, 2, "b"};
  std::string good = "files/good.bin";
  std::string good_bin = bins.role_for(good);
  std::string other_bin = good_bin == "b-0" ? "b-1" : "b-0";
  // A path that does not hash to other_bin, listed by other_bin all the same.
  std::string misplaced;
  for (int i = 0; misplaced.empty() || bins.role_for(misplaced) == other_bin; ++i) misplaced = "files/m" + std::to_string(i);
  spit(repo.dir() / "targets" / "files" / (sha256_hex(payload) + ".good.bin"), payload);
  auto entry = json::object{{"length", payload.size()}, {"hashes", json::object{{"sha256", sha256_hex(payload)}}}};
  auto top = repo.signed_of("1.targets.json");
  top["version"] = 2;
  top["delegations"] = json::object{
      {"keys", json::object{{kb.keyid(), kb.public_json()}}},
      {"succinct_roles", json::object{{"keyids", json::array{kb.keyid()}}, {"threshold", 1}, {"bit_length", 2},
                                      {"name_prefix", "b"}}}};
  repo.write_signed("2.targets.json", top, {repo.key("targets")});
  auto bin_md = [&](json::object targets) {
    return json::object{{"_type", "targets"}, {"spec_version", "1.0.31"}, {"version", 1}, {"expires", expires},
                        {"targets", std::move(targets)}};
  };
  repo.write_signed("1." + good_bin + ".json", bin_md({{good, entry}}), {&kb});
  // A bin listing a path that hashes elsewhere: never resolved through it.
  repo.write_signed("1." + other_bin + ".json", bin_md({{misplaced, entry}}), {&kb});
  repo.publish_snapshot(json::object{{"targets.json", json::object{{"version", 2}}},
                                     {"mitigations.json", json::object{{"version", 1}}},
                                     {good_bin + ".json", json::object{{"version", 1}}},
                                     {other_bin + ".json", json::object{{"version", 1}}}});
  Client client(repo, server);
  REQUIRE(client.refresh(t0));
  auto found = client.updater->find_target(good);
  REQUIRE(found);
  REQUIRE(*found);
  CHECK(client.updater->download_target(**found, "").value() == payload);
  auto hidden = client.updater->find_target(misplaced);
  CHECK((!hidden || !*hidden));
  auto all = client.updater->all_targets();
  REQUIRE(all);
  std::vector<std::string> listed;
  for (const auto& t : *all) listed.push_back(t.path);
  CHECK(listed == std::vector<std::string>{good});
}
