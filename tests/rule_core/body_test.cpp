// The rule core on request bodies (forms, multipart, caps, deferred reading) and detect mode.
#include "core_helpers.hpp"
#include "core_internal.h"

#include <catch2/catch.hpp>

#include <string>

using namespace core_test;

namespace {

const std::string kForm = "application/x-www-form-urlencoded";

std::string multipart(const std::string& boundary, const std::string& eol = "\r\n") {
  return "--" + boundary + eol + "Content-Disposition: form-data; name=\"user\"" + eol + eol + "alice" + eol +
         "--" + boundary + eol + "Content-Disposition: form-data; name=\"upload\"; filename=\"shell.jsp\"" + eol +
         "Content-Type: application/octet-stream" + eol + eol + "<% Runtime.exec(x) %>" + eol +
         "--" + boundary + eol + "content-disposition: form-data; name=cmd" + eol + eol + "id;uname" + eol +
         "--" + boundary + "--" + eol;
}

}  // namespace

TEST_CASE("Core: urlencoded body arguments, names decoded and compared case-insensitively", "[rule_core][body]") {
  Rules r;
  REQUIRE(r.add("CMD 403 when body_arg:cmd decoded contains* " + hex("uname")));
  REQUIRE(r.add("NAMES 403 when body_arg_names raw eq " + hex("debug")));
  REQUIRE(r.add("ANY 403 when body_args decoded ~ \\$\\{jndi:"));
  r.finish();
  CHECK(answer(r, Request().body("a=1&cmd=%55NAME+-a", kForm)) == "CMD");
  CHECK(answer(r, Request().body("a=1&%63md=uname", kForm)) == "CMD");  // the name decodes to cmd
  CHECK(answer(r, Request().body("a=1&CMD=uname", kForm)) == "CMD");
  CHECK(answer(r, Request().body("cmdx=uname&cm=uname", kForm)) == "pass");
  CHECK(answer(r, Request().body("a=1&debug", kForm)) == "NAMES");
  CHECK(answer(r, Request().body("x=%24%7Bjndi:ldap://e/a%7D", kForm)) == "ANY");
  // Another media type is no form: its arguments are not body_args (the raw body is `body`).
  CHECK(answer(r, Request().body("cmd=uname", "text/plain")) == "pass");
  CHECK(answer(r, Request().body("cmd=uname", "application/x-www-form-urlencoded; charset=UTF-8")) == "CMD");
  // The query is not the body.
  CHECK(answer(r, Request().target("/?cmd=uname")) == "pass");
}

TEST_CASE("Core: multipart fields, file names, and file contents outside body_args", "[rule_core][body]") {
  Rules r;
  REQUIRE(r.add("FILE 403 when files raw suffix* " + hex(".jsp")));
  REQUIRE(r.add("ARG 403 when body_arg:cmd raw ~ [;|]"));
  REQUIRE(r.add("RAW 403 when body raw contains " + hex("Runtime.exec")));
  r.finish();
  const std::string type = "multipart/form-data; boundary=XyZ123";
  CHECK(answer(r, Request().body(multipart("XyZ123"), type)) == "FILE");
  // A bare LF between lines is parsed too, and a quoted boundary.
  CHECK(answer(r, Request().body(multipart("q-b", "\n"), "multipart/form-data; boundary=\"q-b\"")) == "FILE");

  Rules args;
  REQUIRE(args.add("ARG 403 when body_arg:cmd raw ~ [;|]"));
  REQUIRE(args.add("NOTFILE 403 when body_args raw contains " + hex("Runtime")));
  REQUIRE(args.add("NAME 403 when body_arg_names raw eq " + hex("upload")));
  args.finish();
  CHECK(answer(args, Request().body(multipart("XyZ123"), type)) == "ARG");
  std::string no_cmd = multipart("XyZ123");
  no_cmd.replace(no_cmd.find("id;uname"), 8, "harmless");
  CHECK(answer(args, Request().body(no_cmd, type)) == "NAME");  // the file's content is no argument

  Rules raw;
  REQUIRE(raw.add("RAW 403 when body raw contains " + hex("Runtime.exec")));
  raw.finish();
  CHECK(answer(raw, Request().body(multipart("XyZ123"), type)) == "RAW");
}

TEST_CASE("Core: JSON bodies: each scalar a field named by its member, every member name, strings decoded", "[rule_core][body]") {
  Rules r;
  REQUIRE(r.add("CMD 403 when body_arg:cmd raw contains* " + hex("uname")));
  REQUIRE(r.add("PROTO 403 when body_arg_names raw eq " + hex("__proto__")));
  REQUIRE(r.add("JNDI 403 when body_args raw contains* " + hex("${jndi:")));
  REQUIRE(r.add("ADMIN 403 when body_arg:isAdmin raw eq " + hex("true")));
  REQUIRE(r.add("UTF8 403 when body_args raw eq " + hex("caf\xc3\xa9 \xf0\x9f\x98\x80")));
  REQUIRE(r.add("RAW 403 when body raw contains " + hex("\\u0072aw")));
  r.finish();
  auto json = [&](const std::string& b, const std::string& type = "application/json") { return answer(r, Request().body(b, type)); };
  CHECK(json(R"({"a": {"b": [{"cmd": "UNAME -a"}]}})") == "CMD");          // any depth
  CHECK(json(R"({"cmd": ["ls", "uname"]})") == "CMD");                      // an array's elements take its name
  CHECK(json(R"({"x": "uname", "cmd": "ls"})") == "pass");                  // another member's value
  CHECK(json(R"({"\u0063md": "uname"})") == "CMD");                         // the name decoded too
  CHECK(json(R"({"__proto__": {"polluted": 1}})") == "PROTO");              // a member holding an object is named
  CHECK(json(R"({"u": "\u0024{jndi:ldap://x/a}"})") == "JNDI");             // escapes decoded
  CHECK(json(R"(["${\u006A\u006Edi:dns://x}"])") == "JNDI");                // top-level array, no name
  CHECK(json(R"({"user": {"isAdmin": true}})") == "ADMIN");                 // literals as written
  CHECK(json(R"({"s": "caf\u00e9 \ud83d\ude00"})") == "UTF8");              // UTF-8, a surrogate pair as one character
  CHECK(json(R"({"s": "\u0072aw"})") == "RAW");                             // `body` stays raw
  CHECK(json(R"({"cmd": "uname"})", "application/vnd.api+json; charset=utf-8") == "CMD");
  CHECK(json(R"({"cmd": "uname"})", "text/plain") == "pass");               // not JSON: no fields
  CHECK(json(R"({"cmd" "x" ,,, ] "uname" {"cmd":"uname"})") == "CMD");      // a syntax error hides nothing after it
  CHECK(json(R"({"cmd": "un\ame \q"})") == "pass");                         // unknown escapes kept as written
  CHECK(json(R"({"cmd": "\u0075name)") == "CMD");                           // a string cut off runs to the end
  CHECK(json(std::string(300, '[') + R"("x", {"cmd": "uname"})") == "CMD");  // deeper than the names kept
  for (const char* type : {"application/json", " Application/JSON ", "application/json;charset=utf-8", "application/json ; x=1",
                           "application/problem+json", "application/vnd.api+JSON; v=2"}) {
    CHECK(mc_is_json_type(str(type)) == 1);
  }
  for (const char* type : {"", "application/jsonx", "application/json x", "+json", "text/plain; x=+json", "application/x-www-form-urlencoded"}) {
    CHECK(mc_is_json_type(str(type)) == 0);
  }
}

TEST_CASE("Core: the cap bounds what is inspected; oversize pass or block", "[rule_core][body]") {
  const std::string padded = std::string(100, 'a') + "&cmd=uname";
  Rules pass;
  REQUIRE(pass.add("P 403 body 64 pass when body raw contains " + hex("uname")));
  pass.finish();
  CHECK(answer(pass, Request().body(padded, kForm)) == "pass");      // past the first 64 bytes
  CHECK(answer(pass, Request().body("cmd=uname", kForm)) == "P");

  Rules block;
  REQUIRE(block.add("B 403 body 64 block when method raw eq " + hex("POST") + " when body raw contains " + hex("uname")));
  block.finish();
  CHECK(answer(block, Request().body(padded, kForm)) == "B");        // longer than the cap: refused
  CHECK(answer(block, Request().body(std::string(60, 'a'), kForm)) == "pass");
  Request only_prefix = Request().body(std::string(64, 'a'), kForm);
  only_prefix.body_length = 5000;  // the adapter handed over the cap, the body is longer
  CHECK(answer(block, only_prefix) == "B");
}

TEST_CASE("Core: the body is asked for only when a rule needing it can still answer", "[rule_core][body]") {
  Rules r;
  REQUIRE(r.add("UPLOAD 403 scope ^/upload(?:/|$) when method raw eq " + hex("POST") + " when files raw suffix* " + hex(".jsp")));
  REQUIRE(r.add("GATED 403 when header:x-api raw contains " + hex("token") + " when body raw contains " + hex("evil")));
  REQUIRE(r.add("HEAD 403 when path raw prefix " + hex("/admin/x")));
  r.finish();
  auto need = [&](Request q) {
    q.body_read = 0;
    Arena arena;
    mc_verdict v = eval(r, q, arena);
    return v.need_body ? std::string("need") : v.rule < 0 ? "pass" : std::string(reinterpret_cast<const char*>(v.id.data), v.id.len);
  };
  CHECK(need(Request().target("/upload/a").body("x", "multipart/form-data; boundary=b")) == "need");
  CHECK(need(Request().target("/other").body("x", "text/plain")) == "pass");  // scope rules it out
  CHECK(need(Request().target("/upload/a")) == "pass");                       // GET: method rules it out
  CHECK(need(Request().target("/api").header("X-Api", "token1").body("x")) == "need");
  CHECK(need(Request().target("/api").header("X-Api", "other").body("x")) == "pass");  // prefilter
  CHECK(need(Request().target("/admin/x")) == "HEAD");  // earlier body rules ruled out: answers at once
  CHECK(mc_ruleset_body_cap(r.rs.get()) == 65536);
}

TEST_CASE("Core: a rule in detect mode is listed and answers nothing; later rules still run", "[rule_core][detect]") {
  Rules r;
  REQUIRE(r.add("WATCH 403 mode detect when path raw contains " + hex("/probe")));
  REQUIRE(r.add("WATCH2 403 mode detect when header:user-agent raw contains* " + hex("scanner")));
  REQUIRE(r.add("BLOCK 403 when path raw contains " + hex("/probe/evil")));
  r.finish();
  Arena arena;
  mc_verdict v = eval(r, Request().target("/probe/a").header("User-Agent", "Scanner/1"), arena);
  CHECK(v.rule == -1);
  REQUIRE(v.ndetected == 2);
  CHECK(v.detected[0] == 0);
  CHECK(v.detected[1] == 1);
  CHECK(mc_rule_detect(r.rs.get(), 0) == 1);
  CHECK(mc_rule_detect(r.rs.get(), 2) == 0);
  v = eval(r, Request().target("/probe/evil"), arena);
  CHECK(v.rule == 2);
  CHECK(v.ndetected == 1);
  v = eval(r, Request().target("/fine"), arena);
  CHECK(v.ndetected == 0);
}

TEST_CASE("Core: the evaluation with the body resumes the one without it: same verdicts, detected rules kept", "[rule_core][body][detect]") {
  Rules r;
  REQUIRE(r.add("SEEN 403 mode detect when header:user-agent raw contains* " + hex("scanner")));
  REQUIRE(r.add("EARLY 403 when header:x-api raw contains " + hex("token") + " when body raw contains " + hex("early")));
  REQUIRE(r.add("HEAD 403 when path raw prefix " + hex("/admin")));
  REQUIRE(r.add("BODYWATCH 403 mode detect when body raw contains " + hex("probe")));
  REQUIRE(r.add("LATE 403 when body raw contains " + hex("late")));
  REQUIRE(r.add("BIG 403 body 16 block when method raw eq " + hex("PUT") + " when body raw contains " + hex("zzz")));
  r.finish();
  auto q = [](const std::string& body) { return Request().target("/api").header("User-Agent", "Scanner").header("X-Api", "token").body(body, "text/plain"); };
  CHECK(answer_in_two_phases(r, q("early")) == "EARLY [SEEN]");
  CHECK(answer_in_two_phases(r, q("probe late")) == "LATE [SEEN BODYWATCH]");
  CHECK(answer_in_two_phases(r, q("nothing")) == "pass [SEEN]");
  CHECK(answer_in_two_phases(r, Request().target("/admin").body("late")) == "HEAD");  // before any body rule
  Request put = Request().target("/x").body(std::string(40, 'a'));
  put.method = "PUT";
  CHECK(answer_in_two_phases(r, put) == "BIG");  // oversize block, its literal nowhere
  // A resume from another rule set is ignored: the evaluation starts over.
  Rules other;
  REQUIRE(other.add("ONLY 403 when body raw contains " + hex("early")));
  other.finish();
  Arena arena;
  Request first = q("early");
  first.body_read = 0;
  mc_verdict v = eval(r, first, arena);
  REQUIRE(v.need_body == 1);
  Request second = q("early");
  second.resume.assign(static_cast<const char*>(v.resume), v.resume_len);
  CHECK(answer(other, second) == "ONLY");
}

TEST_CASE("Core: the resumed evaluation does nothing twice: rules before the asking one are not run again, "
          "literals found without the body still count", "[rule_core][body]") {
  Rules r;
  REQUIRE(r.add("SLOW 403 when path raw ~ ^/[0-9]{5}$"));  // no literal: runs on every request
  REQUIRE(r.add("BODY 403 when body raw contains " + hex("evil")));
  REQUIRE(r.add("HDR 403 when header:x-b raw contains " + hex("secret")));  // found in the first pass only
  r.finish();
  Request q = Request().target("/api").header("X-B", "secret").body("fine", "text/plain");
  Arena first, second, fresh;
  q.body_read = 0;
  mc_verdict v = eval(r, q, first);
  REQUIRE(v.need_body == 1);
  q.body_read = 1;
  mc_verdict again = eval(r, q, fresh);  // from scratch: SLOW's regex runs again
  q.resume.assign(static_cast<const char*>(v.resume), v.resume_len);
  mc_verdict resumed = eval(r, q, second);
  CHECK(again.regexes == 1);
  CHECK(resumed.regexes == 0);  // SLOW already failed without the body
  REQUIRE(resumed.rule == 2);    // HDR: its literal came from the first pass, not scanned again
  CHECK(again.rule == 2);
}

TEST_CASE("Core: oversize block answers even when the body's literal gate is absent", "[rule_core][body]") {
  Rules r;
  REQUIRE(r.add("JSP 403 body 100 block when files raw suffix* " + hex(".jsp")));
  r.finish();
  const std::string type = "multipart/form-data; boundary=b";
  const std::string small = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nx\r\n--b--\r\n";
  CHECK(answer(r, Request().body(small, type)) == "pass");
  std::string big = small;
  big.insert(big.find("x\r\n"), std::string(200, 'y'));
  CHECK(answer(r, Request().body(big, type)) == "JSP");
}

TEST_CASE("Core: every Content-Disposition of a part counts, however many (found by fuzzing: more file names than parts overflowed)", "[rule_core][body]") {
  Rules r;
  REQUIRE(r.add("JSP 403 when files raw suffix* " + hex(".jsp")));
  REQUIRE(r.add("CMD 403 when body_arg:cmd raw contains " + hex(";id")));
  r.finish();
  std::string part = "--b\r\n";
  for (int i = 0; i < 40; ++i) part += "Content-Disposition: form-data; name=\"f" + std::to_string(i) + "\"; filename=\"a" + std::to_string(i) + ".txt\"\r\n";
  std::string body = part + "Content-Disposition: form-data; name=\"f\"; filename=\"shell.jsp\"\r\n\r\nx\r\n--b--\r\n";
  CHECK(answer(r, Request().body(body, "multipart/form-data; boundary=b")) == "JSP");
  CHECK(answer(r, Request().body(part + "\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b")) == "pass");
}
