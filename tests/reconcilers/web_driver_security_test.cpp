// Security review, issue 14 finding 2: a symlink planted in the include dir where mitigd's rule file
// goes made the root daemon write the rule into another file. The driver now refuses to touch a
// name that is not its own file (a link is never one) and writes through directory descriptors.
#include "reconcilers/web_driver.hpp"
#include "tests/support/fakes.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

namespace fs = std::filesystem;
using namespace mitigd;

TEST_CASE("WebDriver: a symlink planted at a rule file's name is refused and its target untouched", "[reconcilers][security]") {
  std::string root = (fs::temp_directory_path() / "mitigd-driver-XXXXXX").string();
  REQUIRE(::mkdtemp(root.data()) != nullptr);
  fs::create_directories(root + "/nginx/mitigd/http");
  fs::create_directories(root + "/nginx/mitigd/server");
  std::ofstream(root + "/victim") << "precious";
  fs::create_symlink(root + "/victim", root + "/nginx/mitigd/server/mitigd-M1.conf");
  testing::FakeNginx nginx(root + "/nginx", web::disk_include_dirs());
  WebServer server;
  server.server_include_dir = root + "/nginx/mitigd/server";
  server.http_include_dir = root + "/nginx/mitigd/http";
  server.validate = {"fake-validate"};
  server.reload = {"fake-reload"};
  server.probe_url = "http://127.0.0.1:1";
  testing::FakeClock clock(SysSeconds{});
  web::ConfigDirDriver driver(server, nginx, nginx, clock);
  web::FileSet changes;
  changes[{web::Context::server, "mitigd-M1.conf"}] = web::with_marker("M1", 1, "return 444;\n");
  auto r = driver.transact(changes);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::conflict);
  CHECK(testing::read_text(root + "/victim") == "precious");
  CHECK(fs::is_symlink(root + "/nginx/mitigd/server/mitigd-M1.conf"));
  // The link is not read as one of ours either.
  CHECK(driver.read_owned().count({web::Context::server, "mitigd-M1.conf"}) == 0);
  fs::remove_all(root);
}
