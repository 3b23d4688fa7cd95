#include "latency_recorder.hpp"

#include <algorithm>

namespace demo {

void LatencyRecorder::record(std::chrono::nanoseconds latency) {
  const std::lock_guard<std::mutex> lock(mutex_);
  latencies_ns_.push_back(latency.count());
}

void LatencyRecorder::start() {
  const std::lock_guard<std::mutex> lock(mutex_);
  started_ = std::chrono::steady_clock::now();
}

void LatencyRecorder::finish() {
  const std::lock_guard<std::mutex> lock(mutex_);
  finished_ = std::chrono::steady_clock::now();
}

LatencyRecorder::Summary LatencyRecorder::summarize() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  Summary summary;
  summary.operation = operation_;
  summary.count = latencies_ns_.size();
  if (latencies_ns_.empty()) {
    return summary;
  }
  std::vector<std::int64_t> sorted = latencies_ns_;
  std::sort(sorted.begin(), sorted.end());
  const auto at = [&](double quantile) {
    const auto index = static_cast<std::size_t>(quantile * static_cast<double>(sorted.size() - 1));
    return std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::nanoseconds(sorted[index]));
  };
  summary.p50 = at(0.50);
  summary.p99 = at(0.99);
  summary.max = at(1.0);
  const double seconds = std::chrono::duration<double>(finished_ - started_).count();
  summary.per_second = seconds > 0 ? static_cast<double>(summary.count) / seconds : 0;
  return summary;
}

}  // namespace demo
