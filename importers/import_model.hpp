#pragma once
// The importers' common model: a foreign rule becomes a disjunction of alternatives, each a
// conjunction of mitigd conditions, and then one manifest (one rewrite_rule action per alternative:
// a manifest blocks when any of its actions does). Whatever cannot be expressed exactly is refused
// with the reason and where it is (never imported broader or narrower).
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mitigd::importers {

// A construct that has no exact mitigd equivalent, with where it is in the source.
class Refused : public std::runtime_error {
 public:
  Refused(const std::string& where, const std::string& why) : std::runtime_error(where + ": " + why) {}
};

struct Condition {
  std::string input;                    // a mitigd input: "arg:id", "body_args", "path_raw_decoded"...
  std::vector<std::string> transforms;  // "decode", "lowercase", "base64", in order
  std::string op;                       // pattern | equals | contains | starts_with | ends_with | length
  std::string value;                    // the literal or the regex
  std::optional<std::size_t> min, max;  // length
  bool negate = false;
  bool case_sensitive = true;           // foreign engines compare bytes unless told otherwise
};

using Alternative = std::vector<Condition>;  // ANDed

// AND of two disjunctions: every pair (refused past `limit` alternatives: an explosion is not a rule).
std::vector<Alternative> and_of(const std::vector<Alternative>& a, const std::vector<Alternative>& b, const std::string& where,
                                std::size_t limit = 32);

struct ManifestMeta {
  std::string id, title, description, product, fixed_in, min, severity = "high";
  std::vector<std::string> cves;
  std::string mode = "enforce";  // or detect
  int status = 403;
};

// The manifest's JSON text; validated by mitigd's own parser before it is returned (a refusal there
// names the field).
std::string build_manifest(const ManifestMeta& meta, const std::vector<Alternative>& alternatives, const std::string& source);

// CVE ids mentioned in a text (labels, messages), each once.
std::vector<std::string> cves_in(const std::string& text);

}  // namespace mitigd::importers
