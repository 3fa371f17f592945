#pragma once
// Named points in applying and reverting where a crash is survivable by design. Production passes
// nothing; the fault-injection test passes a hook that SIGKILLs the process at the Nth point.
#include <functional>
#include <string_view>

namespace mitigd {
using Checkpoint = std::function<void(std::string_view point)>;
inline void reach(const Checkpoint& checkpoint, std::string_view point) {
  if (checkpoint) checkpoint(point);
}
}  // namespace mitigd
