#include "policies/request_semantics.hpp"

#include <catch2/catch.hpp>

using namespace mitigd;

TEST_CASE("unescape_once: set-misc's decoding, applied once", "[policies][decode]") {
  CHECK(unescape_once("%50owershell") == "Powershell");
  CHECK(unescape_once("autodiscover%2Ejson") == "autodiscover.json");
  CHECK(unescape_once("a+b") == "a b");
  CHECK(unescape_once("%2550") == "%50");  // once, like IIS {UrlDecode:}
  CHECK(unescape_once("power%shell") == "powershell");  // '%' before a non-hex byte is dropped
  CHECK(unescape_once("%5gX") == "X");     // "%5" before a non-hex byte is dropped with it
  CHECK(unescape_once("end%") == "end");
  CHECK(unescape_once("%0a") == "\n");
}

TEST_CASE("normalized_path: like nginx $uri", "[policies][decode]") {
  CHECK(normalized_path("/owa/") == "/owa/");
  CHECK(normalized_path("/%6Fwa/x") == "/owa/x");
  CHECK(normalized_path("//owa/./a/../b") == "/owa/b");
  CHECK(normalized_path("/a/..") == "/");
  CHECK(normalized_path("/") == "/");
}

TEST_CASE("input_value: headers, cookies and the query", "[policies][decode]") {
  HttpRequest r{"GET", "/p?x=1&y=%41", {{"Cookie", "a=1"}, {"X-Test", "one"}, {"cookie", "X-BEResource=z/y~1"}, {"X-Test", "two"}}};
  CHECK(input_value(r, {InputKind::query, {}}) == "x=1&y=%41");
  CHECK(input_value(r, {InputKind::header, "x-test"}) == "one");
  CHECK(input_value(r, {InputKind::cookie, {}}) == "a=1; X-BEResource=z/y~1");
  CHECK(input_value(r, {InputKind::cookie_named, "x-beresource"}) == "z/y~1");
  CHECK(input_value(r, {InputKind::path, {}}) == "/p");
}
