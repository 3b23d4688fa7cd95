#include "report.hpp"

#include <fmt/format.h>

namespace demo {

void Report::check(std::string name, bool passed, std::string detail) {
  checks_.push_back({std::move(name), passed, std::move(detail)});
}

bool Report::all_passed() const {
  for (const auto& check : checks_) {
    if (!check.passed) {
      return false;
    }
  }
  return !checks_.empty();
}

void Report::print() const {
  fmt::print("\nLatency per operation (client side, including the network round trip)\n");
  fmt::print("  {:<22} {:>8} {:>10} {:>9} {:>9} {:>9}\n", "operation", "calls", "calls/s", "p50 us",
             "p99 us", "max us");
  for (const auto& summary : latencies_) {
    if (summary.count == 0) {
      continue;
    }
    fmt::print("  {:<22} {:>8} {:>10.0f} {:>9} {:>9} {:>9}\n", summary.operation, summary.count,
               summary.per_second, summary.p50.count(), summary.p99.count(), summary.max.count());
  }
  fmt::print("\nTop {} (sales x1 + revenue in cents x0.001 + views x0.1, sliding window)\n",
             top_.size());
  for (std::size_t index = 0; index < top_.size(); ++index) {
    fmt::print("  {:>2}. {:<16} {:>12.1f}\n", index + 1, top_[index].member, top_[index].score);
  }
  fmt::print("\nInvariants\n");
  for (const auto& check : checks_) {
    fmt::print("  {}  {:<66} {}\n", check.passed ? "PASS" : "FAIL", check.name, check.detail);
  }
  fmt::print("\n{}\n", all_passed() ? "All invariants hold." : "SOME INVARIANTS FAILED.");
}

}  // namespace demo
