#pragma once
// Version schemes used by manifests (`applies_to.scheme`) and inventory products.
//   dotted: numeric components separated by dots (15.2.1118.20); missing components count as 0.
//   debian: the full dpkg ordering (epoch:upstream-revision, with `~` sorting before everything).
#include "policies/error.hpp"

#include <string>
#include <string_view>

namespace mitigd {

enum class VersionScheme { dotted, debian };

const char* to_string(VersionScheme scheme);
Result<VersionScheme> parse_version_scheme(std::string_view text);

// Why `text` is not a valid version of `scheme`, or empty when it is.
std::string version_syntax_problem(VersionScheme scheme, std::string_view text);

// <0, 0, >0 like strcmp. Both versions must be valid for the scheme.
int compare_versions(VersionScheme scheme, std::string_view a, std::string_view b);

int compare_dotted(std::string_view a, std::string_view b);
int compare_debian(std::string_view a, std::string_view b);

}  // namespace mitigd
