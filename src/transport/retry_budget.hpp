// The retry budget of one client call, shared by the clients that send again
// what a server refused or could not take (ClusterClient rounds, the
// StandaloneClient / SentinelClient DurableSender, SentinelClient's master
// resolution). Private to the transport layer.
#pragma once

#include <chrono>

namespace flashsale::detail {

// The retry budget of one call: from `started`, rounds that made no progress
// pause 10 ms, 20 ms, ... up to 250 ms, never past the deadline.
class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr std::chrono::milliseconds kFirstPause{10};
  static constexpr std::chrono::milliseconds kLongestPause{250};

  RetryBudget(Clock::time_point started, std::chrono::milliseconds budget)
      : started_(started), deadline_(started + budget) {}

  bool exhausted(Clock::time_point now) const noexcept { return now >= deadline_; }
  // The pause before the next round (at most what is left of the budget);
  // each call doubles the next one up to kLongestPause.
  Clock::duration next_pause(Clock::time_point now) noexcept;
  std::chrono::milliseconds elapsed(Clock::time_point now) const noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - started_);
  }
  // What is left of the budget at `now`; zero once it is exhausted.
  std::chrono::milliseconds left(Clock::time_point now) const noexcept {
    return exhausted(now) ? std::chrono::milliseconds{0}
                          : std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
  }

 private:
  Clock::time_point started_;
  Clock::time_point deadline_;
  std::chrono::milliseconds pause_ = kFirstPause;
};

}  // namespace flashsale::detail
