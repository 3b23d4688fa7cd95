// The demo's final report: latencies, the ranking, and every invariant as
// PASS or FAIL.
#pragma once

#include <string>
#include <vector>

#include "flashsale/sliding_window_ranking.hpp"
#include "latency_recorder.hpp"

namespace demo {

class Report {
 public:
  void add_latency(const LatencyRecorder& recorder) { latencies_.push_back(recorder.summarize()); }
  void set_top(std::vector<flashsale::RankedMember> top) { top_ = std::move(top); }
  // One invariant; `detail` shows the figures it compared.
  void check(std::string name, bool passed, std::string detail);

  void print() const;
  bool all_passed() const;

 private:
  struct Check {
    std::string name;
    bool passed;
    std::string detail;
  };
  std::vector<LatencyRecorder::Summary> latencies_;
  std::vector<flashsale::RankedMember> top_;
  std::vector<Check> checks_;
};

}  // namespace demo
