// mitigctl check for Apache: the pitfalls of wiring mod_rewrite rules into a virtual host, each
// named with the line to fix (issue 13, item 10).
#include "daemon/wiring_apache.hpp"

#include <catch2/catch.hpp>

namespace mitigd {
namespace {

WebServer apache() {
  WebServer w;
  w.kind = WebServerKind::apache;
  w.server_include_dir = "/etc/apache2/mitigd/server";
  w.http_include_dir = "";
  w.config_root = "/etc/apache2";
  w.probe_url = "http://127.0.0.1:80";
  return w;
}

const std::string kMain = "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\nListen 80\n";

std::vector<CheckItem> check(const std::string& site, const std::string& main = kMain) {
  return check_apache_config(parse_apache_config({{"/etc/apache2/apache2.conf", main}, {"/etc/apache2/sites-enabled/site.conf", site}}),
                             apache());
}

const CheckItem* failed(const std::vector<CheckItem>& items) {
  for (const auto& i : items) {
    if (i.level == CheckItem::Level::fail) return &i;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("Apache check: the include first in the vhost that answers probe_url passes", "[wiring][apache]") {
  auto items = check(
      "<VirtualHost *:80>\n"
      "    IncludeOptional /etc/apache2/mitigd/server/*.conf\n"
      "    RewriteEngine On\n"
      "    RewriteRule ^/old$ /new [L,R=301]\n"
      "</VirtualHost>\n"
      "<VirtualHost *:443>\n  RewriteEngine Off\n</VirtualHost>\n");  // another port: not this site
  CHECK(failed(items) == nullptr);
}

TEST_CASE("Apache check: an operator RewriteRule before the include is named with both lines", "[wiring][apache]") {
  auto items = check(
      "<VirtualHost *:80>\n"
      "  RewriteEngine On\n"
      "  RewriteRule ^/autodiscover/ - [L]\n"
      "  Include /etc/apache2/mitigd/server/*.conf\n"
      "</VirtualHost>\n");
  const CheckItem* f = failed(items);
  REQUIRE(f);
  CHECK(f->blocking);
  CHECK(f->detail.find("sites-enabled/site.conf:3") != std::string::npos);
  CHECK(f->detail.find("site.conf:4") != std::string::npos);
  CHECK(f->fix.find("first line inside the <VirtualHost> at /etc/apache2/sites-enabled/site.conf:1") != std::string::npos);
}

TEST_CASE("Apache check: RewriteEngine Off after the include is named", "[wiring][apache]") {
  auto items = check(
      "<VirtualHost 127.0.0.1:80>\n"
      "  IncludeOptional /etc/apache2/mitigd/server/*.conf\n"
      "  <IfModule mod_rewrite.c>\n"
      "    rewriteengine   off\n"
      "  </IfModule>\n"
      "</VirtualHost>\n");
  const CheckItem* f = failed(items);
  REQUIRE(f);
  CHECK(f->detail.find("RewriteEngine Off` at /etc/apache2/sites-enabled/site.conf:4") != std::string::npos);
}

TEST_CASE("Apache check: an include in the main server only does not reach the vhost (and Inherit is named)", "[wiring][apache]") {
  auto items = check("<VirtualHost *:80>\n  RewriteEngine On\n  RewriteOptions Inherit\n</VirtualHost>\n",
                     kMain + "IncludeOptional /etc/apache2/mitigd/server/*.conf\n");
  const CheckItem* f = failed(items);
  REQUIRE(f);
  CHECK(f->detail.find("main server at /etc/apache2/apache2.conf:3 does not apply to a virtual host") != std::string::npos);
  CHECK(f->detail.find("RewriteOptions Inherit") != std::string::npos);
  CHECK(f->fix.find("IncludeOptional /etc/apache2/mitigd/server/*.conf") != std::string::npos);
}

TEST_CASE("Apache check: an include inside <Directory> or <Location> does not count (per-directory context)", "[wiring][apache]") {
  auto items = check(
      "<VirtualHost *:80>\n"
      "  <Location />\n"
      "    IncludeOptional /etc/apache2/mitigd/server/*.conf\n"
      "  </Location>\n"
      "</VirtualHost>\n");
  const CheckItem* f = failed(items);
  REQUIRE(f);
  CHECK(f->detail.find("does not include") != std::string::npos);
}

TEST_CASE("Apache check: mod_rewrite not loaded, continuation lines, quoted paths, no vhost on the port", "[wiring][apache]") {
  auto no_rewrite = check("<VirtualHost *:80>\n  IncludeOptional \"/etc/apache2/mitigd/server/*.conf\"\n</VirtualHost>\n", "Listen 80\n");
  REQUIRE(failed(no_rewrite));
  CHECK(failed(no_rewrite)->name == "mod_rewrite");
  CHECK(failed(no_rewrite)->fix.find("a2enmod rewrite") != std::string::npos);
  auto continued = check("<VirtualHost *:80>\n  RewriteRule ^/x \\\n     - [L]\n  IncludeOptional /etc/apache2/mitigd/server/*.conf\n</VirtualHost>\n");
  REQUIRE(failed(continued));
  CHECK(failed(continued)->detail.find("site.conf:2") != std::string::npos);
  auto main_only = check("# no virtual host\n", kMain + "IncludeOptional /etc/apache2/mitigd/server/*.conf\n");
  CHECK(failed(main_only) == nullptr);
  auto nothing = check("<VirtualHost *:8080>\n</VirtualHost>\n");
  REQUIRE(failed(nothing));
  CHECK(failed(nothing)->name.find("main server") != std::string::npos);
}

}  // namespace mitigd
