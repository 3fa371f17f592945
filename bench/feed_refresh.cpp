// bench/feed_refresh: CPU time of the daemon's feed step on a feed of 1,000 mitigations served
// over loopback HTTP, when nothing changed since the last refresh (the common case: every poll).
// It measures exactly what the daemon does on each poll (feed::load_feed: conditional timestamp
// request, verification of the trusted metadata, delegation walk, every target from the verified
// cache, every manifest parsed) and prints it against the 20 ms budget of issue #6.
// Usage: feed_refresh [TARGETS]
#include "feed/feed_source.hpp"
#include "feed/publisher.hpp"
#include "tests/feed/loopback_http_server.hpp"

#include <botan/auto_rng.h>
#include <botan/hex.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

using namespace mitigd;
namespace fs = std::filesystem;

namespace {

double thread_cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  Botan::AutoSeeded_RNG rng;
  fs::path dir = fs::temp_directory_path() / ("mitigd-bench-feed-" + Botan::hex_encode(rng.random_vec(4), false));
  struct Cleanup {
    fs::path p;
    ~Cleanup() { std::error_code ec; fs::remove_all(p, ec); }
  } cleanup{dir};

  // A repository with n mitigations (copies of M2 under other ids).
  std::map<std::string, feed::SigningKey> keys;
  feed::InitOptions opts;
  for (const char* role : {"root", "timestamp", "snapshot", "targets", "mitigations"}) {
    keys.emplace(role, feed::SigningKey::generate(feed::KeyType::ed25519));
    (void)feed::write_key_pair(keys.at(role), (dir / "keys" / role).string());
    opts.roles[role].public_key_files = {(dir / "keys" / (std::string(role) + ".pub")).string()};
  }
  if (!feed::Repository::init((dir / "repo").string(), opts)) return 1;
  auto repo = feed::Repository::open((dir / "repo").string()).value();
  auto m2 = slurp(MITIGD_SOURCE_DIR "/examples/manifests/M2.json");
  std::vector<std::string> files;
  for (int i = 0; i < n; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "B%05d", i);
    auto text = m2;
    text.replace(text.find("\"M2\""), 4, std::string("\"") + id + "\"");
    auto f = dir / "manifests" / (std::string(id) + ".json");
    fs::create_directories(f.parent_path());
    std::ofstream(f) << text;
    files.push_back(f.string());
  }
  if (!repo.add(files)) return 1;
  std::vector<const feed::SigningKey*> signers;
  for (const auto& [_, k] : keys) signers.push_back(&k);
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  if (auto r = repo.publish(signers, now); !r) {
    std::cerr << r.error().message << "\n";
    return 1;
  }

  testing::LoopbackHttpServer server(dir / "repo");
  auto store = state::Store::open((dir / "state.db").string());
  feed::FeedSettings settings;
  settings.metadata_url = server.url("metadata/");
  settings.targets_url = server.url("targets/");
  settings.trusted_root = (dir / "repo" / "metadata" / "1.root.json").string();
  settings.cache_dir = (dir / "cache").string();
  auto fetcher = feed::make_fetcher(settings.http);

  feed::FeedStatus status;
  feed::FeedMemo memo;  // as the daemon's engine keeps it between polls
  double c0 = thread_cpu_ms();
  auto first = feed::load_feed(settings, *store, *fetcher, true, now, status, &memo);
  double cold = thread_cpu_ms() - c0;
  if (!first || first->manifests.size() != static_cast<std::size_t>(n)) {
    std::cerr << "first refresh failed: " << (first ? status.error : first.error().message) << "\n";
    return 1;
  }
  std::vector<double> warm;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 15;
  for (int i = 0; i < runs; ++i) {
    c0 = thread_cpu_ms();
    auto again = feed::load_feed(settings, *store, *fetcher, true, now, status, &memo);
    warm.push_back(thread_cpu_ms() - c0);
    if (!again || again->manifests.size() != static_cast<std::size_t>(n) || !status.error.empty()) {
      std::cerr << "refresh failed: " << status.error << "\n";
      return 1;
    }
  }
  std::sort(warm.begin(), warm.end());
  double median = warm[warm.size() / 2];
  std::printf("feed_refresh: %d mitigations over loopback HTTP (ed25519, consistent snapshots)\n", n);
  std::printf("  first refresh (downloads everything): %8.1f ms CPU\n", cold);
  std::printf("  unchanged feed, per poll:             %8.1f ms CPU median, %.1f min, %.1f max (%d runs; 304 answers: %d)\n",
              median, warm.front(), warm.back(), runs, server.not_modified());
  std::printf("  budget (issue #6): 20 ms CPU -> ratio %.2f of the budget\n", median / 20.0);
  return 0;
}
