#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace demo {

Progress::Progress(std::string phase, std::uint64_t total)
    : phase_(std::move(phase)), total_(total == 0 ? 1 : total), terminal_(::isatty(1) == 1) {}

void Progress::render() {
  const std::uint64_t done = this->done();
  const double fraction = static_cast<double>(std::min(done, total_)) / static_cast<double>(total_);
  if (terminal_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    fmt::print("\r  {:<22} [{}{}] {:>3.0f}% {}/{}", phase_, std::string(filled, '#'),
               std::string(kWidth - filled, '.'), fraction * 100, done, total_);
    std::fflush(stdout);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_line_ >= std::chrono::seconds(1)) {
    last_line_ = now;
    fmt::print("  {}: {}/{} ({:.0f}%)\n", phase_, done, total_, fraction * 100);
    std::fflush(stdout);
  }
}

void Progress::finish() {
  if (terminal_) {
    render();
    fmt::print("\n");
  } else {
    fmt::print("  {}: {}/{} done\n", phase_, done(), total_);
  }
  std::fflush(stdout);
}

}  // namespace demo
