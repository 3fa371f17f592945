// The rule core (rule_core/): what the nginx module and `mitigctl rules test` both run.
#include "mitigd_core.h"
#include "core_internal.h"

#include <catch2/catch.hpp>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "core_helpers.hpp"

using namespace core_test;

TEST_CASE("Core: the decoder is set-misc's (once, '+' a space, stray '%' dropped)", "[rule_core]") {
  auto dec = [](const std::string& in) {
    std::string out(in.size(), '\0');
    out.resize(mc_unescape(reinterpret_cast<const unsigned char*>(in.data()), in.size(), reinterpret_cast<unsigned char*>(out.data())));
    return out;
  };
  CHECK(dec("%50owershell") == "Powershell");
  CHECK(dec("%2550") == "%50");
  CHECK(dec("a+b") == "a b");
  CHECK(dec("%zz") == "zz");
  CHECK(dec("%4z") == "");
  CHECK(dec("abc%") == "abc");
  CHECK(dec("%41%4") == "A");
}

TEST_CASE("Core: base64 (standard and URL alphabets, padding and whitespace)", "[rule_core]") {
  auto b64 = [](const std::string& in) {
    std::string out(in.size() * 3 / 4 + 3, '\0');
    out.resize(mc_base64(reinterpret_cast<const unsigned char*>(in.data()), in.size(), reinterpret_cast<unsigned char*>(out.data())));
    return out;
  };
  CHECK(b64("JHtqbmRpOmxkYXA6Ly94fQ==") == "${jndi:ldap://x}");
  CHECK(b64("JHtqbmRp\nOmxkYXA6Ly94fQ") == "${jndi:ldap://x}");
  CHECK(b64("P3g9MT5-") == "?x=1>~");
  CHECK(b64("P3g9MT5+") == "?x=1>~");
}

TEST_CASE("Core: every occurrence of a repeated header is seen (the first-header bypass)", "[rule_core]") {
  Rules r;
  REQUIRE(r.add("L4J 403 when header:User-Agent decoded ~* \\$\\{jndi:"));
  r.finish();
  CHECK(answer(r, Request().header("User-Agent", "x").header("User-Agent", "${jndi:ldap://e/a}")) == "L4J");
  CHECK(answer(r, Request().header("user-agent", "%24%7Bjndi:x}")) == "L4J");
  CHECK(answer(r, Request().header("User-Agent", "curl/8")) == "pass");
}

TEST_CASE("Core: a negated condition holds only when no occurrence matches; a missing header is empty", "[rule_core]") {
  Rules r;
  REQUIRE(r.add("NOREF 403 when path raw ~ ^/admin when header:Referer raw !~ ^https://intra/"));
  r.finish();
  CHECK(answer(r, Request().target("/admin")) == "NOREF");
  CHECK(answer(r, Request().target("/admin").header("Referer", "https://intra/x")) == "pass");
  CHECK(answer(r, Request().target("/admin").header("Referer", "https://evil/").header("Referer", "https://intra/")) == "pass");
  Rules empty;
  REQUIRE(empty.add("E 403 when header:X-Token raw ~ ^$"));
  empty.finish();
  CHECK(answer(empty, Request()) == "E");
}

TEST_CASE("Core: query arguments, each decoded on its own, names decoded to find arg:NAME", "[rule_core]") {
  Rules r;
  REQUIRE(r.add("ID 403 when arg:id decoded ~ \\.\\./"));
  REQUIRE(r.add("ANY 403 when args decoded ~* <script"));
  REQUIRE(r.add("NAME 403 when arg_names decoded eq " + hex("__proto__")));
  r.finish();
  CHECK(answer(r, Request().target("/?x=1&id=%2e%2e/etc")) == "ID");
  CHECK(answer(r, Request().target("/?x=../&id=1")) == "pass");
  CHECK(answer(r, Request().target("/?%69%64=../")) == "ID");
  std::string pad;
  for (int i = 0; i < 100; ++i) pad += "%4z";
  CHECK(answer(r, Request().target("/?id" + pad + "=../")) == "ID");
  CHECK(answer(r, Request().target("/?q=%3CScRiPt%3E")) == "ANY");
  CHECK(answer(r, Request().target("/?a=1&__proto__=x")) == "NAME");
  CHECK(answer(r, Request().target("/?a=1&&b")) == "pass");
}

TEST_CASE("Core: every value is looked at, however many: no exploit hides behind padding", "[rule_core][security]") {
  Rules r;
  REQUIRE(r.add("ARG 403 when args decoded contains " + hex("../")));
  REQUIRE(r.add("HDR 403 when header:X-A raw contains " + hex("evil")));
  REQUIRE(r.add("CK 403 when cookie:s raw eq " + hex("admin")));
  r.finish();
  std::string q = "/?";
  for (int i = 0; i < 5000; ++i) q += "a" + std::to_string(i) + "=1&";
  CHECK(answer(r, Request().target(q + "z=../")) == "ARG");
  CHECK(answer(r, Request().target(q + "z=ok")) == "pass");
  Request many;
  for (int i = 0; i < 400; ++i) many.header("X-A", "fine");
  CHECK(answer(r, many) == "pass");
  many.header("X-A", "evil");
  CHECK(answer(r, many) == "HDR");
  std::string cookies;
  for (int i = 0; i < 1000; ++i) cookies += "s=user; ";
  CHECK(answer(r, Request().header("Cookie", cookies + "s=admin")) == "CK");
}

TEST_CASE("Core: headers, header_names, cookie:NAME (every occurrence), path_raw_decoded", "[rule_core]") {
  Rules r;
  REQUIRE(r.add("HN 403 when header_names raw eq* " + hex("x-middleware-subrequest")));
  REQUIRE(r.add("HV 403 when headers raw contains " + hex("() {")));
  REQUIRE(r.add("CK 403 when cookie:session raw ~ ^admin$"));
  REQUIRE(r.add("PR 403 when path_raw_decoded raw contains " + hex("/..;/")));
  r.finish();
  CHECK(answer(r, Request().header("X-Middleware-Subrequest", "a")) == "HN");
  CHECK(answer(r, Request().header("Referer", "() { :; }; echo")) == "HV");
  CHECK(answer(r, Request().header("Cookie", "a=1; session=user").header("Cookie", "session=admin")) == "CK");
  CHECK(answer(r, Request().target("/x/%2e%2e;/admin")) == "PR");
  CHECK(answer(r, Request().target("/x/ok")) == "pass");
}

TEST_CASE("Core: literal operators, case, transforms in order, length", "[rule_core]") {
  Rules r;
  REQUIRE(r.add("EQ 403 when method raw eq " + hex("TRACE")));
  REQUIRE(r.add("PRE 403 when path raw prefix* " + hex("/wp-admin/")));
  REQUIRE(r.add("SUF 403 when path raw suffix " + hex(".env")));
  REQUIRE(r.add("B64 403 when arg:data decoded,base64,lowercase contains " + hex("jndi:")));
  REQUIRE(r.add("LEN 413 when header:Content-Type raw len 1000-"));
  r.finish();
  CHECK(answer(r, Request().target("/").header("X", "1")) == "pass");
  Request trace;
  trace.method = "TRACE";
  CHECK(answer(r, trace) == "EQ");
  trace.method = "trace";
  CHECK(answer(r, trace) == "pass");
  CHECK(answer(r, Request().target("/WP-Admin/x")) == "PRE");
  CHECK(answer(r, Request().target("/a/.env")) == "SUF");
  CHECK(answer(r, Request().target("/a/.ENV")) == "pass");
  CHECK(answer(r, Request().target("/?data=JHtKTkRJOmxkYXA6Ly94fQ%3D%3D")) == "B64");
  CHECK(answer(r, Request().header("Content-Type", std::string(1000, 'a'))) == "LEN");
  CHECK(answer(r, Request().header("Content-Type", std::string(999, 'a'))) == "pass");
}

TEST_CASE("Core: the prefilter skips rules whose literal is absent, and never hides a match", "[rule_core]") {
  Rules r;
  REQUIRE(r.add("M1 444 when request_uri decoded ~* (?s)^(?:(?=.*autodiscover)(?=.*powershell)) literals " + hex("autodiscover")));
  REQUIRE(r.add("LIT 403 when query raw contains* " + hex("union select")));
  r.finish();
  CHECK(mc_rule_gated(r.rs.get(), 0));
  CHECK(mc_rule_gated(r.rs.get(), 1));
  Arena arena;
  mc_verdict v = eval(r, Request().target("/owa/?q=powershell"), arena);
  CHECK(v.rule == -1);
  CHECK(v.regexes == 0);
  CHECK(answer(r, Request().target("/AutoDiscover/x?%50owershell")) == "M1");
  CHECK(answer(r, Request().target("/?q=1+UNION+SELECT")) == "pass");  // raw: '+' is not a space
  CHECK(answer(r, Request().target("/?q=1%20union select")) == "LIT");
}

TEST_CASE("Core: a regex engine error makes the rule answer, negated or not (fail closed)", "[rule_core]") {
  Rules r;
  REQUIRE(r.add("NEG 403 when request_uri raw !~ (*LIMIT_MATCH=1000)^/(a|aa)+$"));
  r.finish();
  Arena arena;
  mc_verdict v = eval(r, Request().target("/" + std::string(40, 'a') + "b"), arena);
  CHECK(v.rule == 0);
  CHECK(v.engine_error == 1);
}

TEST_CASE("Core: bad directives are refused with the word at fault, and change nothing", "[rule_core]") {
  Rules r;
  CHECK_FALSE(r.add("X 99 when path raw ~ a"));
  CHECK(r.error.find("status") != std::string::npos);
  CHECK_FALSE(r.add("X 403 when bodies raw ~ a"));
  CHECK(r.error.find("unknown input \"bodies\"") != std::string::npos);
  CHECK_FALSE(r.add("X 403 body 0 pass when body raw ~ a"));
  CHECK_FALSE(r.add("X 403 body 1048577 pass when body raw ~ a"));
  CHECK_FALSE(r.add("X 403 body 100 drop when body raw ~ a"));
  CHECK_FALSE(r.add("X 403 when body raw ~ a body 100 pass"));
  CHECK_FALSE(r.add("X 403 mode watch when path raw ~ a"));
  CHECK_FALSE(r.add("X 403 when path gzip ~ a"));
  CHECK_FALSE(r.add("X 403 when path raw like a"));
  CHECK_FALSE(r.add("X 403 when path raw ~ (unclosed"));
  CHECK(r.error.find("missing closing parenthesis") != std::string::npos);
  CHECK_FALSE(r.add("X 403 when path raw eq 6"));
  CHECK_FALSE(r.add("X 403 when path raw !~ abc literals 616263"));
  CHECK_FALSE(r.add("X 403 when path raw ~ abc literals 6162635"));  // odd hex (found by fuzzing: freed garbage)
  CHECK_FALSE(r.add("X 403 when path raw ~ abc literals 6162,zz6364"));
  CHECK_FALSE(r.add("X 403 when path raw len 9-3"));
  CHECK_FALSE(r.add("X 403"));
  CHECK(mc_ruleset_rules(r.rs.get()) == 0);
  REQUIRE(r.add("OK 403 when path raw ~ a"));
  r.finish();
  CHECK(answer(r, Request().target("/a")) == "OK");
}

TEST_CASE("Core: a scope's prefix gates a rule that has no literal of its own", "[rule_core]") {
  Rules r;
  REQUIRE(r.add("KEY 403 scope ^/owa/keys(?:/|$) literals " + hex("/owa/keys") + " when header:x-key raw len 10-"));
  r.finish();
  CHECK(mc_rule_gated(r.rs.get(), 0) == 1);
  CHECK(answer(r, Request().target("/OWA/Keys/a").header("X-Key", std::string(20, 'k'))) == "KEY");
  CHECK(answer(r, Request().target("/owa/keys").header("X-Key", std::string(20, 'k'))) == "KEY");
  CHECK(answer(r, Request().target("/owa/keysx").header("X-Key", std::string(20, 'k'))) == "pass");
  CHECK(answer(r, Request().target("/other/").header("X-Key", std::string(20, 'k'))) == "pass");
  Rules bad;
  CHECK_FALSE(bad.add("KEY 403 scope ^/a literals 2f61 when path raw ~ x"));  // shorter than 3 bytes
}

TEST_CASE("Core: a table scanned every step-th position still sees a literal at every offset", "[rule_core]") {
  Rules r;  // shortest literal 8 bytes: the header's table is scanned every 6th position
  REQUIRE(r.add("A 403 when header:x-a raw contains " + hex("evil-one")));
  REQUIRE(r.add("B 403 when header:x-a raw contains* " + hex("Another-Evil-Thing")));
  REQUIRE(r.add("C 403 when header:x-a raw ~ (?:sneaky1|sneaky22)"));
  r.finish();
  for (std::size_t pad = 0; pad < 40; ++pad) {
    for (std::size_t tail = 0; tail < 3; ++tail) {
      std::string p(pad, 'z'), t(tail, 'y');
      CHECK(answer(r, Request().header("X-A", p + "evil-one" + t)) == "A");
      CHECK(answer(r, Request().header("X-A", p + "ANOTHER-evil-thing" + t)) == "B");
      CHECK(answer(r, Request().header("X-A", p + "sneaky22" + t)) == "C");
      CHECK(answer(r, Request().header("X-A", p + "evil-on" + t)) == "pass");
    }
  }
}

TEST_CASE("Core: literals sharing a prefix are told apart wherever they occur (grouped confirmation)", "[rule_core]") {
  Rules r;  // 1- to 3-digit suffixes: groups of three lengths under the prefix's windows; S0 and R0 share a literal
  REQUIRE(r.add("S0 403 when cookie raw contains* " + hex("x-backend-0=") + " when header:x-s raw eq " + hex("yes")));
  for (int n = 0; n < 150; ++n) REQUIRE(r.add("R" + std::to_string(n) + " 403 when cookie raw contains* " + hex("x-backend-" + std::to_string(n) + "=")));
  REQUIRE(r.add("L 403 when cookie raw contains* " + hex("x-backend-long-literal-beyond-sixteen=")));
  r.finish();
  for (int n = 0; n < 150; n += 7) {
    for (std::size_t pad = 0; pad < 12; pad += 5) {
      std::string lit = "X-BackEnd-" + std::to_string(n) + "=";
      CHECK(answer(r, Request().header("Cookie", std::string(pad, 'z') + lit + "v")) == "R" + std::to_string(n));
    }
  }
  CHECK(answer(r, Request().header("Cookie", "x-backend-0=1").header("X-S", "yes")) == "S0");
  CHECK(answer(r, Request().header("Cookie", "x-backend-0=1").header("X-S", "no")) == "R0");
  CHECK(answer(r, Request().header("Cookie", "a=b; x-backend-long-literal-beyond-sixteen=1")) == "L");
  CHECK(answer(r, Request().header("Cookie", "x-backend-long-literal-beyond-sixteen")) == "pass");  // '=' missing
  CHECK(answer(r, Request().header("Cookie", "X-BackEndCookie=S-1-5-21=def; x-backend-=1; x-backend-150=1")) == "pass");
}

TEST_CASE("Core: the decoder's word-at-a-time paths equal a byte-by-byte reference on random inputs", "[rule_core]") {
  auto reference = [](const std::string& in) {  // set_unescape_uri, one byte at a time
    std::string out;
    auto hexv = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) ? std::stoi(std::string(1, c), nullptr, 16) : -1; };
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        out += ' ';
      } else if (in[i] != '%') {
        out += in[i];
      } else if (i + 1 < in.size() && hexv(in[i + 1]) < 0) {
        out += in[++i];
      } else if (i + 2 < in.size()) {
        if (hexv(in[i + 2]) >= 0) out += static_cast<char>(hexv(in[i + 1]) * 16 + hexv(in[i + 2]));
        i += 2;
      } else {
        i = in.size();
      }
    }
    return out;
  };
  const std::string alphabet = "ab+%2F4z+&=.+%";
  std::uint32_t seed = 12345;
  for (int n = 0; n < 3000; ++n) {
    std::string in;
    std::size_t len = n % 61;
    for (std::size_t i = 0; i < len; ++i) {
      seed = seed * 1103515245 + 12345;
      in += alphabet[(seed >> 16) % alphabet.size()];
    }
    std::string out(in.size(), '\0');
    out.resize(mc_unescape(reinterpret_cast<const unsigned char*>(in.data()), in.size(), reinterpret_cast<unsigned char*>(out.data())));
    REQUIRE(out == reference(in));
  }
}

TEST_CASE("Core: the vector case fold, escape search and '+' replacement equal a byte-by-byte reference", "[rule_core]") {
  for (int c = 0; c < 256; ++c) {  // the decoder's hex table
    int want = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    REQUIRE(mc_hex_value(static_cast<unsigned char>(c)) == want);
  }
  std::uint32_t seed = 777;
  for (int n = 0; n < 4000; ++n) {
    std::size_t len = n % 70;
    std::vector<unsigned char> in(len + 1);
    for (auto& c : in) {  // every byte value; often near the letters' edges and the two escapes
      seed = seed * 1103515245 + 12345;
      const unsigned char edges[] = {'@', 'A', 'Z', '[', '`', 'a', 'z', '{', '%', '+', 0xc1, 0xda, 0x80, 0x7f};
      c = (seed >> 20) % 3 ? edges[(seed >> 8) % sizeof edges] : static_cast<unsigned char>(seed >> 8);
    }
    const unsigned char* p = in.data() + (n & 1);  // unaligned too
    std::size_t m = len - (n & 1 && len > 0);
    std::vector<unsigned char> folded(m + 1, 0), spaced(m + 1, 0);
    mc_fold_copy(p, m, folded.data());
    mc_plus_to_space(p, m, spaced.data());
    std::size_t first = m;
    for (std::size_t i = 0; i < m; ++i) {
      REQUIRE(folded[i] == (p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]));
      REQUIRE(spaced[i] == (p[i] == '+' ? ' ' : p[i]));
      if (first == m && (p[i] == '%' || p[i] == '+')) first = i;
    }
    REQUIRE(folded[m] == 0);  // nothing written past the end
    REQUIRE(spaced[m] == 0);
    REQUIRE(mc_find_escape(p, m) == first);
  }
  const std::string letters = "aAzZ@`[{-";  // the case-insensitive compare, word and short-name paths
  for (int n = 0; n < 3000; ++n) {
    std::size_t len = n % 21;
    std::string x, y;
    for (std::size_t i = 0; i < len; ++i) {
      seed = seed * 1103515245 + 12345;
      x += letters[(seed >> 16) % letters.size()];
      y += (seed >> 8) % 5 ? x.back() : letters[(seed >> 20) % letters.size()];
      if ((seed >> 4) % 2 && std::isalpha(static_cast<unsigned char>(y.back()))) y.back() ^= 0x20;
    }
    int want = 0;
    for (std::size_t i = 0; i < len && want == 0; ++i) {
      int a = std::tolower(static_cast<unsigned char>(x[i])), b = std::tolower(static_cast<unsigned char>(y[i]));
      want = a < b ? -1 : a > b;
    }
    int got = mc_strncasecmp(reinterpret_cast<const unsigned char*>(x.data()), reinterpret_cast<const unsigned char*>(y.data()), len);
    REQUIRE((got > 0) - (got < 0) == want);
  }
}
