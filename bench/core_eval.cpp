// bench/core_eval: the rule core alone, as the nginx module runs it, on one request: every
// rewrite_rule of the manifests in DIR in one rule set (the module's words), a benign GET with a
// 300-byte URI and a browser's headers, evaluated ROUNDS times. Prints ns per request and, against
// the named baseline, the same loop over an empty rule set. Under
// `valgrind --tool=callgrind bench/core_eval DIR 1000` it counts instructions repeatably.
// With "post": a 2 KiB urlencoded form (bench/body_rules.sh's) instead, read when a rule asks for it.
// Usage: core_eval MANIFEST_DIR [ROUNDS] [post]
#include "policies/core_rules.hpp"
#include "policies/manifest.hpp"
#include "policies/json_input.hpp"

#include "mitigd_core.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

using namespace mitigd;

namespace {

struct Arena {
  std::vector<unsigned char> mem = std::vector<unsigned char>(1 << 20);
  std::size_t used = 0;
  static void* alloc(void* ctx, size_t n) {
    auto* a = static_cast<Arena*>(ctx);
    std::size_t need = (n + 15) & ~std::size_t{15};
    if (a->used + need > a->mem.size()) return nullptr;
    void* p = a->mem.data() + a->used;
    a->used += need;
    return p;
  }
};

mc_ruleset* load(const std::string& dir, std::size_t* rules) {
  mc_ruleset* rs = mc_ruleset_new();
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); ++it) {
    files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  char err[512];
  for (const auto& f : files) {
    auto text = json_input::read_file_capped(f.string(), 1 << 20);
    auto m = text ? parse_manifest(f.string(), *text) : Result<Manifest>(text.error());
    if (!m) continue;
    for (std::size_t i = 0; i < m->actions.size(); ++i) {
      const auto* rule = std::get_if<RewriteRule>(&m->actions[i].detail);
      if (!rule) continue;
      auto words = core_rule_words(*m, i, m->actions[i], *rule);
      std::vector<mc_str> w;
      for (const auto& s : words) w.push_back({reinterpret_cast<const unsigned char*>(s.data()), s.size()});
      if (mc_rule_add(rs, w.data(), w.size(), err, sizeof err) != 0) std::cerr << f << ": " << err << "\n";
    }
  }
  mc_ruleset_finish(rs, err, sizeof err);
  *rules = mc_ruleset_rules(rs);
  return rs;
}

// As the module: first without the body; when a rule asks for it, again with it.
double ns_per_request(mc_ruleset* rs, const HttpRequest& request, int rounds, long* matched) {
  CoreRequest seen(request);
  mc_request unread = seen.view();
  unread.body_read = 0;
  mc_request with_body = seen.view();
  std::vector<unsigned char> resume;
  resume.reserve(1 << 16);
  Arena arena;
  mc_alloc a{&Arena::alloc, &arena};
  mc_verdict v;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    arena.used = 0;
    mc_evaluate(rs, &unread, &a, &v);
    if (v.need_body) {  // as the module: the resume copied out of the arena, then the body's turn
      resume.assign(static_cast<const unsigned char*>(v.resume), static_cast<const unsigned char*>(v.resume) + v.resume_len);
      with_body.resume = resume.data();
      mc_evaluate(rs, &with_body, &a, &v);
    }
    *matched += v.rule >= 0;
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / rounds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: core_eval MANIFEST_DIR [ROUNDS] [post]\n";
    return 2;
  }
  int rounds = argc > 2 ? std::atoi(argv[2]) : 200000;
  std::size_t n = 0, none = 0;
  mc_ruleset* rs = load(argv[1], &n);
  mc_ruleset* empty = load("", &none);  // the baseline: no rules (the module declines at once)
  std::string uri = "/owa/service.svc?action=GetItem&ID=-1&AC=1&UA=0&app=Mail&n=42&cid=8a5c2f1e-4b7d-4c3a-9e21-0f6d3b2a1c55"
                    "&folder=inbox&view=conversation&sort=received&order=desc&offset=0&limit=50&fields=subject,from,received,"
                    "preview&tz=Europe%2FBerlin&lang=en-US&theme=base&ts=1764547200&x=1";
  uri += std::string(300 - std::min<std::size_t>(300, uri.size()), 'a');
  HttpRequest get{"GET", uri,
                  {{"Host", "mail.example.com"},
                   {"User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"},
                   {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
                   {"Accept-Language", "en-US,en;q=0.9"},
                   {"Accept-Encoding", "gzip, deflate, br"},
                   {"Referer", "https://mail.example.com/owa/"},
                   {"Cookie", "ClientId=ABCDEF0123; X-OWA-CANARY=abc123def456; X-BackEndCookie=S-1-5-21=def; session=0123456789abcdef"}}};
  bool post = argc > 3 && std::string(argv[3]) == "post";
  if (post) {
    std::string form = "subject=Quarterly+report+for+the+board&to=alice%40example.com%3Bbob%40example.com&importance=normal";
    for (int i = 0; i < 40; ++i) {
      form += "&field" + std::to_string(i) + "=value+" + std::to_string(i) + "+with+some+words+in+it+%26+symbols";
    }
    form = (form + "&pad=" + std::string(2048, 'p')).substr(0, 2048);
    get = HttpRequest{"POST", uri, get.headers, form};
    get.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  }
  long matched = 0;
  std::vector<double> with, without;
  for (int r = 0; r < 5; ++r) {  // alternating rounds, medians
    without.push_back(ns_per_request(empty, get, rounds / 5 + 1, &matched));
    with.push_back(ns_per_request(rs, get, rounds / 5 + 1, &matched));
  }
  std::sort(with.begin(), with.end());
  std::sort(without.begin(), without.end());
  std::cout << "core_eval: " << n << " rules, benign " << (post ? "POST (2 KiB form, " : "GET (") << uri.size() << "-byte URI, 7 headers): " << static_cast<long>(with[2])
            << " ns per request; baseline (no rules): " << static_cast<long>(without[2]) << " ns; "
            << static_cast<long>(with[2] - without[2]) << " ns added (" << matched << " matched: expected 0)\n";
  mc_ruleset_free(rs);
  mc_ruleset_free(empty);
  return 0;
}
