// The prefilter's sources (rule_core/sources.c): literals of many inputs are looked for in one
// scan of a string containing them all. Whatever is merged, the prefilter may only let more
// rules through, never fewer: each test compares against the same rules with no literal.
#include "mitigd_core.h"
#include "core_internal.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core_helpers.hpp"

using namespace core_test;

namespace {

struct Input {
  const char* name;
  const char* codec;
};

// Every input the merging touches (the URI family, named into their families, lowercase), and
// some it does not.
const Input kInputs[] = {
    {"request_uri", "raw"},       {"request_uri", "decoded"},  {"query", "raw"},
    {"query", "decoded,lowercase"}, {"args", "decoded"},       {"args", "raw"},
    {"arg:id", "decoded"},        {"arg:id", "raw"},           {"arg_names", "decoded"},
    {"path_raw_decoded", "raw"},  {"path_raw_decoded", "lowercase"}, {"header:X-A", "raw"},
    {"headers", "raw"},           {"header:X-A", "decoded"},   {"cookie:s", "raw"},
    {"cookie", "raw"},            {"cookie:s", "decoded"},     {"header:User-Agent", "decoded,lowercase"},
    {"arg:data", "decoded,base64"}, {"path", "raw"},     {"body", "raw"},
    {"body", "decoded"},          {"body_args", "decoded"},    {"body_args", "raw"},
    {"body_arg:id", "decoded"},   {"body_arg_names", "decoded,lowercase"}, {"files", "raw"},
    {"body_arg:id", "decoded,base64"}, {"arg:file", "decoded"}, {"body_arg:data", "decoded,base64"},
    {"body_arg:file", "raw"},
};
const char* kLiterals[] = {"../", "/./", "d=.", "a a", "%2e", "x=../", "evil", "jndi:", "id=x", ".;/"};

// A regex spelling the literal byte by byte: no literal is extracted from it, so the rule runs on
// every request (the reference the gated rule must agree with).
std::string spelled(const std::string& lit) {
  std::string re = "(?i)";
  for (unsigned char c : lit) {
    static const char* d = "0123456789abcdef";
    re += "\\x";
    re += d[c >> 4];
    re += d[c & 15];
  }
  return re;
}

struct Rng {
  std::uint32_t s = 2026;
  std::size_t next(std::size_t n) {
    s = s * 1103515245u + 12345u;
    return (s >> 16) % n;
  }
};

std::string pick(Rng& rng, const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += parts[rng.next(parts.size())];
  return out;
}

// The inputs the rule set scans on every request ("uri", "uri decoded", "headers", "body decoded"...)
// and the named ones looked up by the request's names: how many passes a request costs.
std::string tables(const Rules& r) {
  const mc_ruleset* rs = r.rs.get();
  std::string out;
  for (std::size_t i = 0; i < rs->nplain; ++i) {
    const mc_subject& s = rs->subjects[rs->grams[rs->plain[i]].subject];
    static const std::pair<mc_input, const char*> names[] = {{MC_IN_URI_SCAN, "uri"}, {MC_IN_HEADERS, "headers"},
                                                             {MC_IN_COOKIE, "cookie"}, {MC_IN_BODY_SCAN, "body"}, {MC_IN_PATH, "path"}};
    std::string name = "other";
    for (const auto& [k, n] : names) {
      if (s.kind == k) name = n;
    }
    out += (out.empty() ? "" : " ") + name + (s.transforms[0] == MC_T_DECODE ? " decoded" : "");
  }
  return out + " | named " + std::to_string(rs->nnamed);
}

}  // namespace

TEST_CASE("Prefilter: one scan per source, whatever the argument, header and body inputs", "[rule_core][prefilter]") {
  Rules uri;  // every URI input, named or not, raw or decoded once, lowercase or not
  REQUIRE(uri.add("A 403 when args decoded,lowercase contains " + hex("<script")));
  REQUIRE(uri.add("B 403 when arg:filename decoded contains " + hex("../../etc")));
  REQUIRE(uri.add("C 403 when query decoded contains " + hex("union select")));
  REQUIRE(uri.add("D 403 when request_uri decoded contains " + hex("/etc/passwd")));
  REQUIRE(uri.add("E 403 when path_raw_decoded raw contains " + hex("/..;/")));
  REQUIRE(uri.add("F 403 when arg:data decoded,base64 contains " + hex("jndi:")));  // gives way to "data"
  REQUIRE(uri.add("G 403 when arg:cmd decoded ~ [;|]\\s*id"));                   // gated by "cmd"
  uri.finish();
  CHECK(tables(uri) == "uri decoded | named 0");

  Rules body;  // every form input and the raw body: the form is parsed only after a hit
  REQUIRE(body.add("A 403 when body_args decoded contains " + hex("<script")));
  REQUIRE(body.add("B 403 when body_arg:cmd decoded ~ [;|]\\s*id"));
  REQUIRE(body.add("C 403 when body_arg_names decoded contains " + hex("__proto__")));
  REQUIRE(body.add("D 403 when body decoded contains " + hex("class.module")));
  REQUIRE(body.add("E 403 when body_arg:data decoded,base64 contains " + hex("jndi:")));
  body.finish();
  CHECK(tables(body) == "body decoded | named 0");

  Rules hdr;  // header:NAME joins headers unless its literal is shorter than the family's
  REQUIRE(hdr.add("A 403 when headers raw contains " + hex("() {")));
  REQUIRE(hdr.add("B 403 when header:X-Api-Version raw contains " + hex("${jndi:")));
  REQUIRE(hdr.add("C 403 when header:X-Short raw contains " + hex("../")));
  hdr.finish();
  CHECK(tables(hdr) == "headers | named 1");
}

TEST_CASE("Prefilter: merged scans let through every rule the unfiltered rules match", "[rule_core][prefilter]") {
  Rng rng;
  const std::vector<std::string> uri_parts = {"/", "a", "%2e", ".", "?", "&", "=", "id", "%69d", "+", "%", "x", "..",
                                              "%2F", "ID", ";", "d", "%3d", "%26", " ", "evil", "jNdI:", "%4", "&data=am5kaTo%3D", "&file=", "&FiLe=..%2f"};
  const std::vector<std::string> hdr_parts = {"a", "evil", "%65vil", " ", ";", "s=", "jndi:", "JNDI%3a", "=", "../", "x"};
  for (int round = 0; round < 40; ++round) {
    Rules gated, reference;
    for (int k = 0; k < 12; ++k) {
      const Input& in = kInputs[rng.next(std::size(kInputs))];
      std::string lit = kLiterals[rng.next(std::size(kLiterals))];
      std::string id = "R" + std::to_string(k);
      std::string head = id + " 403 when " + in.name + " " + in.codec;
      REQUIRE(gated.add(head + " contains* " + hex(lit)));
      REQUIRE(reference.add(head + " ~ " + spelled(lit)));
    }
    gated.finish();
    reference.finish();
    for (int n = 0; n < 150; ++n) {
      Request q;
      q.target("/" + pick(rng, uri_parts, rng.next(14)));
      if (rng.next(3) == 0) q.query = pick(rng, uri_parts, rng.next(6));  // a query that is not the URI's tail
      for (std::size_t h = rng.next(4); h > 0; --h) {
        static const char* names[] = {"X-A", "x-a", "User-Agent", "Cookie", "Accept"};
        q.header(names[rng.next(5)], pick(rng, hdr_parts, rng.next(6)));
      }
      if (rng.next(2) == 0) {  // a form, urlencoded or multipart, with encodings and odd names
        static const std::vector<std::string> form_parts = {"id=", "%69d=", "&", "=", "../", "%2e%2e/", "a+a", "jndi:",
                                                            "am5kaTo%3D", "x", "evil", "%", "%4", ";", "data=", "&file=", "FILE="};
        static const std::vector<std::string> json_parts = {"{", "}", "[", "]", "\"id\":", "\"%69d\":", ",", "\"", "\\u0069d",
                                                            "\\\"", "\\", "jndi:", "\\u004a\\u004edi:", "evil", "\\ud83d\\ude00", "1",
                                                            "true", ":", "\"file\":", "../", "\\/", "\"data\": \"", "\\u0065vil"};
        std::size_t kind = rng.next(3);
        if (kind == 0) {
          q.body(pick(rng, form_parts, rng.next(10)), "application/x-www-form-urlencoded");
        } else if (kind == 1) {  // JSON: member names, nesting, string escapes (also broken ones)
          q.body(pick(rng, json_parts, rng.next(14)), rng.next(2) ? "application/json" : "application/problem+json; charset=utf-8");
        } else {
          std::string b = "--B\r\nContent-Disposition: form-data; name=\"" + pick(rng, {"id", "ID", "x", "data", "file"}, 1) +
                          "\"; filename=\"" + pick(rng, form_parts, rng.next(3)) + "\"\r\n\r\n" + pick(rng, form_parts, rng.next(6)) +
                          "\r\n--B--\r\n";
          q.body(b, "multipart/form-data; boundary=B");
        }
      }
      INFO("uri " << q.uri << " query " << q.query << " body " << q.body_text);
      std::string got = answer(gated, q);
      REQUIRE(got == answer(reference, q));
      mc_ruleset_all_candidates(gated.rs.get(), 1);  // and the same rules with every rule run
      REQUIRE(got == answer(gated, q));
      mc_ruleset_all_candidates(gated.rs.get(), 0);
      REQUIRE(got == answer_in_two_phases(gated, q));  // and as the module: the body's turn resumed
    }
  }
}

TEST_CASE("Prefilter: one URI scan serves the argument rules, and a benign request runs no rule", "[rule_core][prefilter]") {
  Rules r;
  REQUIRE(r.add("ID 403 when arg:id decoded contains " + hex("../")));
  REQUIRE(r.add("ARGS 403 when args decoded,lowercase contains " + hex("<script")));
  REQUIRE(r.add("NAMES 403 when arg_names decoded ~ ^__proto__$ literals " + hex("__proto__")));
  REQUIRE(r.add("URI 403 when request_uri decoded ~ /etc/passwd literals " + hex("/etc/passwd")));
  REQUIRE(r.add("HDR 403 when header:X-Api-Version raw contains " + hex("${jndi:")));
  REQUIRE(r.add("ANYH 403 when headers raw contains " + hex("() {")));
  r.finish();
  Arena arena;
  mc_verdict v = eval(r, Request().target("/owa/service.svc?action=GetItem&id=42&q=hello%20world").header("X-Api-Version", "2"), arena);
  CHECK(v.rule == -1);
  CHECK(v.regexes == 0);
  CHECK(answer(r, Request().target("/p?a=1&%69d=%2e%2e/x")) == "ID");
  CHECK(answer(r, Request().target("/p?a=%3CSCRIPT%3E")) == "ARGS");
  CHECK(answer(r, Request().target("/p?__proto__[x]=1&__proto__=1")) == "NAMES");
  CHECK(answer(r, Request().target("/p?__proto__x=1")) == "pass");
  CHECK(answer(r, Request().header("x-api-version", "${jndi:ldap://x}")) == "HDR");
  CHECK(answer(r, Request().header("X-Other", "${jndi:ldap://x}")) == "pass");
  CHECK(answer(r, Request().header("Referer", "() { :;}")) == "ANYH");
  Request apart;  // the embedder passes a query that is not the URI's tail: it is scanned too
  apart.target("/p");
  apart.query = "id=../";
  CHECK(answer(r, apart) == "ID");
}

TEST_CASE("Prefilter: a rule on a named argument with no literal is gated by the name", "[rule_core][prefilter]") {
  // (and a literal that would keep arg:NAME's own table, base64 or short, gives way to NAME)
  Rules r;
  REQUIRE(r.add("CMD 403 when arg:autodiscovercmd0 decoded ~ [;|`]\\s*(?:id|uname)\\b"));
  REQUIRE(r.add("BCMD 403 when body_arg:exchangecmd1 decoded ~ [;|`]\\s*(?:id|uname)\\b"));
  REQUIRE(r.add("SHORT 403 when arg:id decoded ~ ^\\d+x$"));             // 2 bytes: no gate
  REQUIRE(r.add("NEG 403 when arg:autodiscovercmd0 decoded !~ ^safe$"));  // negated: no gate
  r.finish();
  CHECK(mc_rule_gated(r.rs.get(), 0));
  CHECK(mc_rule_gated(r.rs.get(), 1));
  CHECK_FALSE(mc_rule_gated(r.rs.get(), 2));
  CHECK_FALSE(mc_rule_gated(r.rs.get(), 3));
  Rules gated;  // the two gated rules alone: a benign request runs neither
  REQUIRE(gated.add("CMD 403 when arg:autodiscovercmd0 decoded ~ [;|`]\\s*(?:id|uname)\\b"));
  REQUIRE(gated.add("BCMD 403 when body_arg:exchangecmd1 decoded ~ [;|`]\\s*(?:id|uname)\\b"));
  gated.finish();
  Arena arena;
  mc_verdict v = eval(gated, Request().target("/p?a=1&b=2").body("x=1&y=2", "application/x-www-form-urlencoded"), arena);
  CHECK(v.rule == -1);
  CHECK(v.regexes == 0);
  CHECK(answer(gated, Request().target("/p?%61utoDiscoverCmd0=%3Bid")) == "CMD");  // the name encoded, any case
  CHECK(answer(gated, Request().target("/p?x=autodiscovercmd0&y=;id")) == "pass");  // the name as a value
  CHECK(answer(gated, Request().body("a=1&EXCHANGECMD1=%7C+uname", "application/x-www-form-urlencoded")) == "BCMD");
  CHECK(answer(gated, Request().body("--B\r\nContent-Disposition: form-data; name=\"exchangecmd1\"\r\n\r\n; id\r\n--B--\r\n",
                                     "multipart/form-data; boundary=B")) == "BCMD");
  CHECK(answer(r, Request().target("/p?autodiscovercmd0=x")) == "NEG");
  CHECK(answer(r, Request().target("/p?id=12x&autodiscovercmd0=safe")) == "SHORT");
}
