#include "reconcilers/clock.hpp"

#include <thread>

namespace mitigd {

namespace {
class SystemClock final : public Clock {
 public:
  SysSeconds wall() override {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  }
  Steady steady() override { return std::chrono::steady_clock::now(); }
  void sleep_until(Steady t) override { std::this_thread::sleep_until(t); }
};
}  // namespace

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace mitigd
