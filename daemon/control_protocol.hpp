#pragma once
// The control socket protocol: one JSON line each way.
//   request:  {"command": "reconcile"} | {"command": "status"} | {"command": "retry", "ids": [...]}
//   ("retry" clears the failure state and backoff of those ids, or of all with no ids, then reconciles)
//   response: {"ok": true|false, ...the run's report..., "error": "..."}
// "reconcile" is answered when the first run that starts after the request has finished.
#include "policies/error.hpp"

#include <boost/json/value.hpp>
#include <string>
#include <vector>
#include <sys/types.h>

namespace mitigd {

struct ControlRequest {
  std::string command;
  std::vector<std::string> ids;  // retry only
};
constexpr std::size_t kMaxControlLine = 65536;

Result<ControlRequest> parse_control_request(const std::string& line);

// Client side (mitigctl): connects, sends, waits up to `timeout_seconds` for the answer.
Result<boost::json::value> control_request(const std::string& socket_path, const ControlRequest& request, int timeout_seconds);

// Whether process `pid` has `gid` among its groups (from /proc/PID/status).
bool peer_in_group(pid_t pid, gid_t gid);

}  // namespace mitigd
