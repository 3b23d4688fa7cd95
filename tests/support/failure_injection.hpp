// The middle of a race with a failure in it, shared by coupon_failure_race
// and stock_failure_race: wait until a quarter of the work is taken, inject
// the failure, and join the callers on every path.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

namespace flashsale::testing {

// Waits until `next` (the callers' shared index of the next work item) has
// reached total / 4, calls `failure(answered)` on this thread and joins
// `callers`. When `failure` throws, `next` is set to `total` so each caller
// stops after its current item, the callers are joined and the exception
// propagates. Returns the answers counted after `failure` returned.
inline int inject_failure_and_join(
    std::vector<std::thread>& callers, std::atomic<int>& next, int total,
    const std::atomic<int>& answered,
    const std::function<void(const std::atomic<int>& answered)>& failure) {
  while (next < total / 4) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int answered_at_failure = 0;
  try {
    failure(answered);
    answered_at_failure = answered.load();
  } catch (...) {
    next = total;
    for (auto& caller : callers) {
      caller.join();
    }
    throw;
  }
  for (auto& caller : callers) {
    caller.join();
  }
  return answered.load() - answered_at_failure;
}

}  // namespace flashsale::testing
