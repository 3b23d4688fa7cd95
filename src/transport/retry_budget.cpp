#include "transport/retry_budget.hpp"

#include <algorithm>

namespace flashsale::detail {

RetryBudget::Clock::duration RetryBudget::next_pause(Clock::time_point now) noexcept {
  const Clock::duration left = deadline_ - now;
  const Clock::duration pause =
      std::max(Clock::duration::zero(), std::min<Clock::duration>(pause_, left));
  pause_ = std::min(pause_ * 2, kLongestPause);
  return pause;
}

}  // namespace flashsale::detail
