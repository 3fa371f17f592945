#pragma once
// Runs a command (argv, no shell) with a deadline and captures its output. The one place that
// forks: drivers get it injected.
#include "policies/error.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace mitigd {

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or the deadline
  std::string output;  // stdout and stderr, merged, capped at 64 KiB
  bool timed_out = false;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  virtual Result<CommandResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds deadline) = 0;
};

class ProcessRunner final : public CommandRunner {
 public:
  Result<CommandResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds deadline) override;
};

}  // namespace mitigd
