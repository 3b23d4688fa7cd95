// PeriodicThread without a server: rounds repeat with the pause asked before
// each, stop() wakes a long pause and joins, and a round sees the request.
#include <atomic>
#include <chrono>
#include <thread>

#include "catch.hpp"
#include "flashsale/periodic_thread.hpp"

using namespace std::chrono_literals;
using flashsale::PeriodicThread;

TEST_CASE("a periodic thread repeats its round, asking for the pause before each", "[unit]") {
  std::atomic<int> rounds{0};
  std::atomic<int> pauses{0};
  PeriodicThread thread([&](const PeriodicThread&) { ++rounds; },
                        [&] {
                          ++pauses;
                          return 1ms;
                        });
  while (rounds < 5) {
    std::this_thread::sleep_for(1ms);
  }
  thread.stop();
  thread.stop();
  CHECK(thread.stop_requested());
  CHECK(pauses >= rounds - 1);
  CHECK(pauses <= rounds);
}

TEST_CASE("stop wakes a periodic thread from its pause and a round sees the request", "[unit]") {
  std::atomic<int> rounds{0};
  std::atomic<bool> seen_stop{false};
  {
    PeriodicThread thread(
        [&](const PeriodicThread& self) {
          ++rounds;
          while (!self.stop_requested()) {
            std::this_thread::sleep_for(1ms);
          }
          seen_stop = true;
        },
        [] { return std::chrono::milliseconds(std::chrono::hours(1)); });
    while (rounds == 0) {
      std::this_thread::sleep_for(1ms);
    }
  }  // the destructor stops: the round ends, the hour-long pause is cut short
  CHECK(rounds == 1);
  CHECK(seen_stop);
}
