// Progress display: a bar that redraws in place on a terminal, plain
// periodic lines otherwise (CI logs, pipes).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace demo {

// Thread-safe: workers call advance(); one thread calls render() or finish().
class Progress {
 public:
  Progress(std::string phase, std::uint64_t total);

  void advance(std::uint64_t amount = 1) { done_.fetch_add(amount, std::memory_order_relaxed); }
  std::uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  // Draws the bar (terminal) or, at most once a second, a line (otherwise).
  void render();
  // Draws the final state and ends the line.
  void finish();

 private:
  std::string phase_;
  std::uint64_t total_;
  std::atomic<std::uint64_t> done_{0};
  bool terminal_;
  std::chrono::steady_clock::time_point last_line_{};
};

}  // namespace demo
