// Security review, issue 14 findings 2 and 3: whoever can write a directory mitigd writes to (an
// include dir, the policy checkout) must not be able to make it write anywhere else.
#include "policies/atomic_file.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {
std::string temp_dir() {
  std::string t = (fs::temp_directory_path() / "mitigd-atomic-XXXXXX").string();
  REQUIRE(::mkdtemp(t.data()) != nullptr);
  return t;
}
std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_CASE("AtomicFile: a symlink planted at the target is replaced, never written through", "[policies][security]") {
  std::string dir = temp_dir();
  std::ofstream(dir + "/victim") << "precious";
  fs::create_symlink(dir + "/victim", dir + "/web01.json");
  REQUIRE(mitigd::write_file_atomically(dir + "/web01.json", "{\"blocked\": []}\n", 0644));
  CHECK(slurp(dir + "/victim") == "precious");
  CHECK_FALSE(fs::is_symlink(dir + "/web01.json"));
  CHECK(slurp(dir + "/web01.json") == "{\"blocked\": []}\n");
  struct stat st {};
  REQUIRE(::stat((dir + "/web01.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  // No temporary file is left behind, and the old fixed temporary name is no attack surface.
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename().string().ends_with(".mitigd-tmp");
  CHECK(entries == 0);
  fs::remove_all(dir);
}

TEST_CASE("AtomicFile: planted links at the old fixed temporary names change nothing", "[policies][security]") {
  std::string dir = temp_dir();
  std::ofstream(dir + "/victim") << "precious";
  fs::create_symlink(dir + "/victim", dir + "/mitigd-M1.conf.mitigd-tmp");
  fs::create_symlink(dir + "/victim", dir + "/org.json.mitigctl-tmp");
  REQUIRE(mitigd::write_file_atomically(dir + "/mitigd-M1.conf", "rule", 0644));
  REQUIRE(mitigd::write_file_atomically(dir + "/org.json", "{}", 0644));
  CHECK(slurp(dir + "/victim") == "precious");
  CHECK(slurp(dir + "/mitigd-M1.conf") == "rule");
  fs::remove_all(dir);
}

TEST_CASE("AtomicFile: removing a symlink removes the link, not its target", "[policies][security]") {
  std::string dir = temp_dir();
  std::ofstream(dir + "/victim") << "precious";
  fs::create_symlink(dir + "/victim", dir + "/mitigd-M1.conf");
  REQUIRE(mitigd::remove_file_in_dir(dir + "/mitigd-M1.conf"));
  CHECK(slurp(dir + "/victim") == "precious");
  CHECK_FALSE(fs::exists(fs::symlink_status(dir + "/mitigd-M1.conf")));
  fs::remove_all(dir);
}
