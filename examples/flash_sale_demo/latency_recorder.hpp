// Per-operation latency and throughput for the demo's report.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace demo {

// Thread-safe: many workers record into one recorder.
class LatencyRecorder {
 public:
  explicit LatencyRecorder(std::string operation) : operation_(std::move(operation)) {}

  void record(std::chrono::nanoseconds latency);
  // Starts and ends the wall-clock span that throughput is measured over.
  void start();
  void finish();

  struct Summary {
    std::string operation;
    std::uint64_t count = 0;
    double per_second = 0;
    std::chrono::microseconds p50{0};
    std::chrono::microseconds p99{0};
    std::chrono::microseconds max{0};
  };
  Summary summarize() const;

 private:
  std::string operation_;
  mutable std::mutex mutex_;
  std::vector<std::int64_t> latencies_ns_;
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point finished_{};
};

// Times one call and records it, even when the call throws.
template <typename Function>
auto timed(LatencyRecorder& recorder, Function&& function) {
  struct Recording {
    LatencyRecorder& recorder;
    std::chrono::steady_clock::time_point begin = std::chrono::steady_clock::now();
    ~Recording() { recorder.record(std::chrono::steady_clock::now() - begin); }
  } recording{recorder};
  return function();
}

}  // namespace demo
