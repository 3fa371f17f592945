#pragma once
// Internal to the manifest parser (manifest.cpp, manifest_conditions.cpp): the helpers both use.
#include "policies/json_input.hpp"
#include "policies/manifest.hpp"

#include <boost/json/value.hpp>

#include <string>

namespace mitigd::manifest_parse {

std::string lower(std::string s);
// Fails at file/path with the problem, when there is one.
void check(const std::string& problem, const std::string& file, const std::string& path);
Pattern compile_pattern(const std::string& source, bool case_sensitive, const std::string& file,
                        const std::string& path, const std::string& context);
// One condition of a rewrite_rule: input, matcher, transforms, case, negation.
Condition parse_condition(const boost::json::value& v, const std::string& file, const std::string& path,
                          const std::string& context);

}  // namespace mitigd::manifest_parse
