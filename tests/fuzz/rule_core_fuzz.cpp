// libFuzzer target for the rule core (rule_core/, the code the nginx module runs on every
// request): the directive parser and the per-request side (decoder, base64, cookies, query
// arguments, transforms, prefilter, evaluation).
// Input: rule lines (words separated by spaces), a blank line, then the request: "METHOD TARGET"
// and "Name: value" header lines, then optionally a line "---" and the body (its Content-Type is
// the first such header). Evaluated as the module does: first without the body, then, when a rule
// asks for it, with it (also as if the body were longer than what was handed over). Without a blank
// line, the bytes go to the decoders alone. Each verdict is checked against the one with every
// rule run (mc_ruleset_all_candidates): the prefilter may skip only rules that cannot answer; the
// evaluation with the body, resumed from the one without (as the module runs them), is compared too.
#include "mitigd_core.h"
#include "core_internal.h"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

mc_str str(const std::string& s) { return {reinterpret_cast<const unsigned char*>(s.data()), s.size()}; }

void* arena_alloc(void* ctx, size_t n) {
  auto* blocks = static_cast<std::deque<std::string>*>(ctx);
  blocks->emplace_back(n + 1, '\0');
  return blocks->back().data();
}

// set_unescape_uri one byte at a time: what mc_unescape's vector loop must equal.
std::vector<unsigned char> unescape_reference(const uint8_t* p, size_t n) {
  std::vector<unsigned char> out;
  auto hex = [](unsigned char c) { return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1; };
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != '%') {
      out.push_back(p[i] == '+' ? ' ' : p[i]);
    } else if (i + 1 < n && hex(p[i + 1]) < 0) {
      out.push_back(p[++i]);
    } else if (i + 2 < n) {
      if (hex(p[i + 2]) >= 0) out.push_back(static_cast<unsigned char>(hex(p[i + 1]) * 16 + hex(p[i + 2])));
      i += 2;
    } else {
      break;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string out(size + 4, '\0');  // room for either decoder
  std::vector<unsigned char> decoded(size);  // exactly size bytes: ASan sees a write past them
  decoded.resize(mc_unescape(data, size, decoded.data()));
  if (decoded != unescape_reference(data, size)) __builtin_trap();
  (void)mc_base64(data, size, reinterpret_cast<unsigned char*>(out.data()));
  auto blank = text.find("\n\n");
  if (blank == std::string::npos) return 0;

  std::unique_ptr<mc_ruleset, void (*)(mc_ruleset*)> rs(mc_ruleset_new(), mc_ruleset_free);
  char err[256];
  for (const auto& line : split(text.substr(0, blank), '\n')) {
    std::vector<std::string> words;
    for (auto& w : split(line, ' ')) {
      if (!w.empty()) words.push_back(w);
    }
    std::vector<mc_str> w;
    for (const auto& s : words) w.push_back(str(s));
    (void)mc_rule_add(rs.get(), w.data(), w.size(), err, sizeof err);
  }
  if (mc_ruleset_finish(rs.get(), err, sizeof err) != 0) return 0;

  std::string rest = text.substr(blank + 2), body;
  if (auto sep = rest.find("\n---\n"); sep != std::string::npos) {
    body = rest.substr(sep + 5);
    rest.resize(sep);
  }
  auto lines = split(rest, '\n');
  auto first = split(lines[0], ' ');
  std::string method = first[0], target = first.size() > 1 ? first[1] : "/";
  auto q = target.find('?');
  std::string path = target.substr(0, q), query = q == std::string::npos ? "" : target.substr(q + 1);
  std::vector<std::pair<std::string, std::string>> hs;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto colon = lines[i].find(':');
    if (colon != std::string::npos) hs.emplace_back(lines[i].substr(0, colon), lines[i].substr(colon + 1));
  }
  std::vector<mc_header> headers;
  for (const auto& [n, v] : hs) headers.push_back({str(n), str(v)});
  mc_request rq{str(method), str(target), str(path), str(query), headers.data(), headers.size(), 0, str(""), 0, str(""), nullptr};
  for (const auto& [n, v] : hs) {
    if (n == "Content-Type" && rq.content_type.len == 0) rq.content_type = str(v);
  }
  std::deque<std::string> blocks;
  mc_alloc a{arena_alloc, &blocks};
  mc_verdict v, all;
  // The prefilter may only skip rules that cannot answer: every verdict equals the one with every
  // rule run (unless a regex failed there, which counts as a match only where it runs). Literals
  // given in a directive ("literals HEX") are the compiler's promise, which mutated input breaks:
  // the comparison holds for the literals the core derives itself.
  const bool given_literals = text.substr(0, blank).find("literals") != std::string::npos;
  auto same = [&](const mc_verdict& x, const mc_verdict& y) {
    if (y.engine_error || x.engine_error) return true;
    if (x.rule != y.rule || x.need_body != y.need_body || x.ndetected != y.ndetected) return false;
    for (std::size_t i = 0; i < x.ndetected; ++i) {
      if (x.detected[i] != y.detected[i]) return false;
    }
    return true;
  };
  auto both = [&]() {
    int rc = mc_evaluate(rs.get(), &rq, &a, &v);
    mc_ruleset_all_candidates(rs.get(), 1);
    int rc_all = mc_evaluate(rs.get(), &rq, &a, &all);
    mc_ruleset_all_candidates(rs.get(), 0);
    if (rc == 0 && rc_all == 0 && !given_literals && !same(v, all)) __builtin_trap();
    return rc == 0;
  };
  if (!both() || !v.need_body) return 0;
  std::string resume(static_cast<const char*>(v.resume), v.resume_len);  // out of the arena, as the module
  rq.body_read = 1;
  rq.body = str(body);
  rq.body_length = body.size() + (size & 1 ? 100000 : 0);  // odd sizes: a longer body than handed over
  if (!both()) return 0;  // the body's turn from scratch
  rq.resume = resume.data();
  (void)both();  // and resumed from the first verdict, as the module does
  return 0;
}
