// Shared by the ranking tests: a clock the test moves by hand, the metrics
// and options the tests use, and the in-memory reference model.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/time_conversion.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

namespace flashsale::testing {

inline constexpr long long kBucketMs = 1000;
inline constexpr long long kWindowMs = 10 * kBucketMs;

using detail::from_epoch_ms;
using detail::to_epoch_ms;

inline long long server_now_ms(RedisServer& server) {
  return server_time_ms(server.admin());
}

// A clock the test moves by hand, starting at the server's time, so that the
// window slides across many buckets in little real time. Bucket keys get
// TTLs relative to this clock, so they outlive what it needs.
struct ManualClock {
  std::shared_ptr<std::atomic<long long>> now_ms;
  explicit ManualClock(long long start) : now_ms(std::make_shared<std::atomic<long long>>(start)) {}
  std::function<RankingTime()> function() const {
    auto now = now_ms;
    return [now] { return from_epoch_ms(now->load()); };
  }
  long long now() const { return now_ms->load(); }
  void advance(long long ms) const { *now_ms += ms; }
};

// Sales count 1, revenue a quarter, views a half: binary fractions, so sums
// are exact in any order and both modes must match the model exactly.
inline std::vector<RankingMetric> test_metrics() {
  return {{"sales", 1.0}, {"revenue", 0.25}, {"views", 0.5}};
}

inline SlidingWindowRankingOptions test_options(std::string name, RankingMode mode) {
  SlidingWindowRankingOptions options;
  options.name = std::move(name);
  options.window = std::chrono::milliseconds(kWindowMs);
  options.bucket = std::chrono::milliseconds(kBucketMs);
  options.metrics = test_metrics();
  options.mode = mode;
  options.incremental_chunk = 7;  // small, so one bucket takes many calls
  return options;
}

// Options for one test's ranking in `mode`; the name says which mode it is.
inline SlidingWindowRankingOptions mode_options(const std::string& base, RankingMode mode) {
  return test_options(base + (mode == RankingMode::Union ? "-union" : "-incremental"), mode);
}

// mode_options on a manual clock.
inline SlidingWindowRankingOptions clocked_options(const std::string& base, RankingMode mode,
                                                   const ManualClock& clock) {
  auto options = mode_options(base, mode);
  options.clock = clock.function();
  return options;
}

// The in-memory reference: per (metric, bucket) sums, aggregated on demand.
class ReferenceRanking {
 public:
  explicit ReferenceRanking(std::vector<RankingMetric> metrics, long long window_ms = kWindowMs,
                            long long bucket_ms = kBucketMs)
      : metrics_(std::move(metrics)), window_ms_(window_ms), bucket_ms_(bucket_ms) {}

  bool record(std::size_t metric, const std::string& member, double delta, long long at,
              long long now) {
    const long long bucket = at - at % bucket_ms_;
    const long long current = now - now % bucket_ms_;
    if (bucket > current || bucket <= current - window_ms_) {
      return false;
    }
    buckets_[{metric, bucket}][member] += delta;
    return true;
  }

  std::vector<RankedMember> top(std::size_t n, long long now) const {
    const long long current = now - now % bucket_ms_;
    std::map<std::string, double> scores;
    for (const auto& [where, members] : buckets_) {
      if (where.second > current || where.second <= current - window_ms_) {
        continue;
      }
      for (const auto& [member, sum] : members) {
        scores[member] += sum * metrics_[where.first].weight;
      }
    }
    std::vector<RankedMember> ranked;
    for (const auto& [member, score] : scores) {
      if (score > 1e-9) {
        ranked.push_back({member, score});
      }
    }
    // Highest score first; equal scores by member, descending (ZREVRANGE).
    std::sort(ranked.begin(), ranked.end(), [](const RankedMember& a, const RankedMember& b) {
      return a.score != b.score ? a.score > b.score : a.member > b.member;
    });
    if (ranked.size() > n) {
      ranked.resize(n);
    }
    return ranked;
  }

 private:
  std::vector<RankingMetric> metrics_;
  long long window_ms_;
  long long bucket_ms_;
  std::map<std::pair<std::size_t, long long>, std::map<std::string, double>> buckets_;
};

inline std::string describe(const std::vector<RankedMember>& members) {
  std::string text;
  for (const auto& entry : members) {
    text += entry.member + "=" + std::to_string(entry.score) + " ";
  }
  return text;
}

}  // namespace flashsale::testing
