// Helpers of the rule core's tests: a rule set from directive lines, a request, a verdict.
#pragma once
#include "mitigd_core.h"

#include <catch2/catch.hpp>

#include <deque>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace core_test {

struct Arena {
  std::deque<std::string> blocks;
  static void* alloc(void* ctx, size_t n) {
    auto* self = static_cast<Arena*>(ctx);
    self->blocks.emplace_back(n + 1, '\0');
    return self->blocks.back().data();
  }
};

inline mc_str str(const std::string& s) { return {reinterpret_cast<const unsigned char*>(s.data()), s.size()}; }

inline std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> w;
  std::istringstream in(line);
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

inline std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

struct Rules {
  std::unique_ptr<mc_ruleset, void (*)(mc_ruleset*)> rs{mc_ruleset_new(), mc_ruleset_free};
  std::string error;
  bool add(const std::string& line) {
    auto words = split_words(line);
    std::vector<mc_str> w;
    for (const auto& s : words) w.push_back(str(s));
    char err[256] = "";
    int rc = mc_rule_add(rs.get(), w.data(), w.size(), err, sizeof err);
    error = err;
    return rc == 0;
  }
  void finish() {
    char err[256];
    REQUIRE(mc_ruleset_finish(rs.get(), err, sizeof err) == 0);
  }
};

struct Request {
  std::string method = "GET", uri = "/", path = "/", query, body_text;
  std::vector<std::pair<std::string, std::string>> headers;
  int body_read = 1;
  std::size_t body_length = std::string::npos;  // npos: body_text's length
  std::string resume;                           // a need_body verdict's resume, copied (empty: none)
  Request& body(const std::string& b, const std::string& type = "") {
    method = "POST";
    body_text = b;
    if (!type.empty()) header("Content-Type", type);
    return *this;
  }
  Request& target(const std::string& t) {
    uri = t;
    auto q = t.find('?');
    path = t.substr(0, q);
    query = q == std::string::npos ? "" : t.substr(q + 1);
    return *this;
  }
  Request& header(const std::string& n, const std::string& v) {
    headers.emplace_back(n, v);
    return *this;
  }
};

inline mc_verdict eval(Rules& r, const Request& q, Arena& arena) {
  std::vector<mc_header> hs;
  for (const auto& [n, v] : q.headers) hs.push_back({str(n), str(v)});
  mc_request rq{str(q.method), str(q.uri), str(q.path), str(q.query), hs.data(), hs.size(), q.body_read,
                str(q.body_text), q.body_length == std::string::npos ? q.body_text.size() : q.body_length, {nullptr, 0}, nullptr};
  for (const auto& [n, v] : q.headers) {
    if (n == "Content-Type" && rq.content_type.data == nullptr) rq.content_type = str(v);
  }
  if (!q.resume.empty()) rq.resume = q.resume.data();
  mc_alloc a{&Arena::alloc, &arena};
  mc_verdict v;
  REQUIRE(mc_evaluate(r.rs.get(), &rq, &a, &v) == 0);
  return v;
}

inline std::string answer(Rules& r, const Request& q) {
  Arena arena;
  mc_verdict v = eval(r, q, arena);
  return v.rule < 0 ? "pass" : std::string(reinterpret_cast<const char*>(v.id.data), v.id.len);
}

// As the module: without the body first; when a rule asks for it, again with the body, resuming
// from the first verdict (its resume copied out of the first evaluation's memory). The answering
// rule and the detected ones, as "ID [D1 D2]".
inline std::string answer_in_two_phases(Rules& r, Request q) {
  Arena first, second;
  q.body_read = 0;
  mc_verdict v = eval(r, q, first);
  if (v.need_body) {
    q.resume.assign(static_cast<const char*>(v.resume), v.resume_len);
    q.body_read = 1;
    v = eval(r, q, second);
  }
  std::string out = v.rule < 0 ? "pass" : std::string(reinterpret_cast<const char*>(v.id.data), v.id.len);
  for (std::size_t i = 0; i < v.ndetected; ++i) {
    mc_str id = mc_rule_id(r.rs.get(), v.detected[i]);
    out += (i ? " " : " [") + std::string(reinterpret_cast<const char*>(id.data), id.len) + (i + 1 == v.ndetected ? "]" : "");
  }
  return out;
}

}  // namespace core_test
