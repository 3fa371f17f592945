#pragma once
// OLPC canonical JSON (the signed bytes of TUF metadata): object keys sorted by their bytes, no
// insignificant whitespace, strings escaped only for '"' and '\', integers only. Written here
// rather than borrowed so the exact byte rules stay in one reviewed place.
#include "policies/error.hpp"

#include <boost/json/value.hpp>
#include <string>

namespace mitigd::feed {

// Fails (invalid_input) on floating point numbers, which canonical JSON cannot represent.
Result<std::string> canonical_json(const boost::json::value& value);

}  // namespace mitigd::feed
