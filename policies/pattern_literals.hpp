#pragma once
// The literal prefilter of a rule pattern. For a PCRE2 pattern (a manifest's source text), a set
// of literals one of which occurs, ASCII case folded, in every subject the pattern matches:
//   "(?=.*autodiscover)(?=.*powershell)"  -> {"autodiscover"} (or {"powershell"})
//   "(?:^|&)id=[^&]*(?:\.\./|%2e%2e)"      -> {"id="}
//   "^(?:GET|HEAD)$"                        -> {"get", "head"}
// nginx's mitigd module runs a rule's regexes only for requests that contain one of them, so a
// benign request costs one pass over each input instead of a regex per rule.
// Soundness over reach: any syntax not understood (\Q..\E aside from the plain case, backslash
// digits, conditionals, recursion, extended mode (?x), properties...) gives no set, and the rule is
// then evaluated for every request, which is correct and only slower.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mitigd {

// Lower-cased, sorted, distinct; nullopt when no set is known or it includes the empty string.
std::optional<std::vector<std::string>> required_literals(std::string_view pattern_source);

// The shortest member's length: how selective a set is (longer literals occur less by chance).
std::size_t shortest_length(const std::vector<std::string>& literals);

}  // namespace mitigd
