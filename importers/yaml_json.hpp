#pragma once
// A YAML document (libyaml) as a JSON value: mappings become objects, sequences arrays, scalars
// strings (the importers read numbers and booleans from their text). Aliases are refused; depth and
// size are bounded, as for every untrusted input.
#include <boost/json.hpp>

#include <string>
#include <string_view>

namespace mitigd::importers {

// Throws Refused naming the file, line and column of a syntax error.
boost::json::value yaml_to_json(const std::string& file, std::string_view text);

}  // namespace mitigd::importers
