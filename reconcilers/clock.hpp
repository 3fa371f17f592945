#pragma once
// Time as the reconcilers see it: the wall clock (backoff, audit times), a monotonic clock and
// sleeping (reload barriers, probe windows). Passed in like every other effect, so tests run the
// reload barrier and the backoff on virtual time.
#include "policies/time_util.hpp"

#include <chrono>

namespace mitigd {

class Clock {
 public:
  using Steady = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual SysSeconds wall() = 0;
  virtual Steady steady() = 0;
  virtual void sleep_until(Steady t) = 0;
  void sleep_for(std::chrono::nanoseconds d) { sleep_until(steady() + std::chrono::duration_cast<Steady::duration>(d)); }
};

// The machine's clocks.
Clock& system_clock();

}  // namespace mitigd
