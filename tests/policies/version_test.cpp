#include "policies/version.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace mitigd;

TEST_CASE("Version dotted: numeric, per component, missing components are zero", "[policies][version]") {
  CHECK(compare_dotted("15.2.1118.20", "15.2.1118.7") > 0);
  CHECK(compare_dotted("15.2.1118.7", "15.2.1118.20") < 0);
  CHECK(compare_dotted("15.2", "15.2.0.0") == 0);
  CHECK(compare_dotted("15.10", "15.9") > 0);
  CHECK(compare_dotted("015.2", "15.2") == 0);
  CHECK(compare_dotted("99999999999999999999999", "1") > 0);
  CHECK(version_syntax_problem(VersionScheme::dotted, "15.2.1118.20").empty());
  CHECK_FALSE(version_syntax_problem(VersionScheme::dotted, "15..2").empty());
  CHECK_FALSE(version_syntax_problem(VersionScheme::dotted, "15.2a").empty());
  CHECK_FALSE(version_syntax_problem(VersionScheme::dotted, "").empty());
}

TEST_CASE("Version debian: the tricky cases of dpkg's ordering", "[policies][version]") {
  CHECK(compare_debian("1.0~rc1", "1.0") < 0);
  CHECK(compare_debian("1.0", "1.0+b1") < 0);
  CHECK(compare_debian("1:0.9", "2.0") > 0);
  CHECK(compare_debian("1.0-1", "1.0-1~bpo1") > 0);
  CHECK(compare_debian("1.0a", "1.0") > 0);
  CHECK(compare_debian("1.0~~", "1.0~") < 0);
  CHECK(compare_debian("0:1.0", "1.0") == 0);
  CHECK(compare_debian("1.0-0", "1.0") == 0);
  CHECK(compare_debian("2.36-9+deb12u4", "2.36-9+deb12u10") < 0);
  CHECK(compare_debian("1.2.3-1-2", "1.2.3-1-1") > 0);  // the revision is after the last '-'
  CHECK_FALSE(version_syntax_problem(VersionScheme::debian, "a1.0").empty());
  CHECK_FALSE(version_syntax_problem(VersionScheme::debian, "x:1.0").empty());
}

namespace {

std::string random_debian(std::mt19937& rng) {
  static const std::string upstream_chars = "0123456789abz.+~-";
  static const std::string revision_chars = "0123456789abz.+~";
  std::uniform_int_distribution<int> coin(0, 9);
  std::string v;
  if (coin(rng) == 0) v += std::to_string(coin(rng) % 3) + ":";
  v += std::to_string(coin(rng));
  int n = coin(rng) % 6;
  for (int i = 0; i < n; ++i) v += upstream_chars[std::uniform_int_distribution<std::size_t>(0, upstream_chars.size() - 1)(rng)];
  if (coin(rng) < 6) {
    v += "-";
    int m = 1 + coin(rng) % 4;
    for (int i = 0; i < m; ++i) v += revision_chars[std::uniform_int_distribution<std::size_t>(0, revision_chars.size() - 1)(rng)];
  }
  return v;
}

// dpkg --compare-versions a lt b: exit 0 when true.
bool dpkg_says(const std::string& a, const char* op, const std::string& b) {
  pid_t pid = fork();
  if (pid == 0) {
    execlp("dpkg", "dpkg", "--compare-versions", a.c_str(), op, b.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) != 127);
  return WEXITSTATUS(status) == 0;
}

}  // namespace

TEST_CASE("Version debian: agrees with dpkg --compare-versions on 1,200 generated pairs", "[policies][version]") {
  std::mt19937 rng(20261124);
  std::vector<std::pair<std::string, std::string>> pairs = {
      {"1.0~rc1", "1.0"}, {"1.0", "1.0+b1"}, {"1:0.9", "2.0"}, {"1.0~~", "1.0~~a"}, {"1.0-1", "1.0-1~"},
      {"0.0", "0"}, {"1.001", "1.1"}, {"1a", "1+"}, {"1.0-a", "1.0-A"}, {"2:1", "10:0"}};
  while (pairs.size() < 1200) {
    std::string a = random_debian(rng), b = random_debian(rng);
    if (!version_syntax_problem(VersionScheme::debian, a).empty() || !version_syntax_problem(VersionScheme::debian, b).empty()) continue;
    if (rng() % 4 == 0) b = a.substr(0, a.size() / 2 + 1);  // near neighbours exercise the edge cases
    if (!version_syntax_problem(VersionScheme::debian, b).empty()) continue;
    pairs.emplace_back(a, b);
  }
  int checked = 0;
  for (const auto& [a, b] : pairs) {
    int ours = compare_debian(a, b);
    const char* op = ours < 0 ? "lt" : (ours > 0 ? "gt" : "eq");
    INFO(a << " " << op << " " << b);
    CHECK(dpkg_says(a, op, b));
    ++checked;
  }
  CHECK(checked >= 1000);
}
