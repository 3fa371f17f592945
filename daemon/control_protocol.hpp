#pragma once
// The control socket protocol: one JSON line each way.
//   request:  {"command": "reconcile"} | {"command": "status"}
//   response: {"ok": true|false, ...the run's report..., "error": "..."}
// "reconcile" is answered when the first run that starts after the request has finished.
#include "policies/error.hpp"

#include <boost/json/value.hpp>
#include <string>
#include <sys/types.h>

namespace mitigd {

Result<std::string> parse_control_request(const std::string& line);

// Client side (mitigctl): connects, sends, waits up to `timeout_seconds` for the answer.
Result<boost::json::value> control_request(const std::string& socket_path, const std::string& command, int timeout_seconds);

// Whether process `pid` has `gid` among its groups (from /proc/PID/status).
bool peer_in_group(pid_t pid, gid_t gid);

}  // namespace mitigd
