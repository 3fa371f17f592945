#include "daemon/trigger_queue.hpp"

#include <catch2/catch.hpp>

using mitigd::TriggerQueue;
using namespace std::chrono_literals;

TEST_CASE("TriggerQueue: requests coalesce into one run; one run at a time", "[daemon][queue]") {
  TriggerQueue q;
  auto t0 = TriggerQueue::TimePoint{} + 100s;
  CHECK_FALSE(q.start(t0));
  q.request("files");
  q.request("poll");
  q.request("files");
  auto run = q.start(t0);
  REQUIRE(run);
  CHECK(*run == "files+poll");
  CHECK(q.running());
  q.request("unit");
  q.request("control");
  CHECK_FALSE(q.start(t0));  // one at a time
  q.finished(t0, false);
  CHECK(q.start(t0) == std::optional<std::string>("control+unit"));
  q.finished(t0, false);
  CHECK_FALSE(q.start(t0));
  CHECK(q.runs_started() == 2);
}

TEST_CASE("TriggerQueue: a scheduled retry waits for its time; the earliest wins", "[daemon][queue]") {
  TriggerQueue q;
  auto t0 = TriggerQueue::TimePoint{} + 100s;
  q.request_at("retry", t0 + 30s);
  q.request_at("retry", t0 + 10s);
  CHECK_FALSE(q.start(t0));
  CHECK(q.next_wake(t0) == std::optional<TriggerQueue::TimePoint>(t0 + 10s));
  CHECK_FALSE(q.start(t0 + 9s));
  CHECK(q.start(t0 + 10s) == std::optional<std::string>("retry"));
  q.finished(t0 + 10s, false);
  CHECK_FALSE(q.next_wake(t0 + 10s));
}

TEST_CASE("TriggerQueue: a run that failed as a whole is requeued with growing, capped backoff", "[daemon][queue]") {
  TriggerQueue q;
  auto t = TriggerQueue::TimePoint{} + 100s;
  std::vector<long> delays;
  q.request("startup");
  for (int i = 0; i < 9; ++i) {
    REQUIRE(q.start(t));
    q.finished(t, true);
    auto wake = q.next_wake(t);
    REQUIRE(wake);
    delays.push_back(std::chrono::duration_cast<std::chrono::seconds>(*wake - t).count());
    t = *wake;
  }
  CHECK(delays == std::vector<long>{1, 2, 4, 8, 16, 32, 60, 60, 60});
  REQUIRE(q.start(t));
  q.finished(t, false);
  CHECK_FALSE(q.next_wake(t));
}
