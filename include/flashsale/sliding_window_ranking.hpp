// SlidingWindowRanking: best-sellers over a sliding time window, kept in Redis.
//
// Events (a sale, the revenue of a sale, a view) are recorded per member (a
// product id) and metric into time buckets; the ranking is the weighted sum of
// every metric over the buckets of the window, highest first.
//
// Keys (all share the hash tag {R}, R = SlidingWindowRankingOptions::name; "fs" is
// SlidingWindowRankingOptions::key_prefix):
//   fs:rank:{R}:<metric>:<bucket-start-ms>  zset member -> sum of deltas in that bucket
//   fs:rank:{R}:agg                         zset member -> weighted score (what readers read)
//   fs:rank:{R}:agg:tmp                     Union mode: staging key, RENAMEd onto :agg
//   fs:rank:{R}:state                       hash: version, refreshed (Union);
//                                           frontier (Incremental)
//   fs:rank:{R}:seen:<bucket-start-ms>      set of the event ids recorded in that bucket
//
// Time and the window. Time is the Redis server's clock (TIME inside the
// scripts) unless SlidingWindowRankingOptions::clock supplies another one. Buckets start at
// multiples of `bucket` since the Unix epoch. The window is the current bucket
// and the window/bucket - 1 buckets before it; a bucket starting at s leaves
// the window at s + window and its keys expire at s + window + bucket (one
// bucket after leaving). A record whose bucket is not in the window (too old,
// or after the current bucket) is not stored: RecordStatus::OutsideWindow.
//
// Modes.
// - Union: record() writes only the bucket. refresh() runs one script that
//   ZUNIONSTOREs the window's bucket keys with the metric weights into the
//   fixed staging key and RENAMEs it onto :agg, so readers always see a whole
//   ranking. It costs O(N) + O(M log M) and blocks Redis while it runs.
//   Single flight: refresh() calls of one instance run one at a time, and a
//   refresh whose window end and data version (bumped by every record) equal
//   those of the last refresh, from any process, is skipped as unchanged.
// - Incremental: record() also adds delta x weight to :agg at once. refresh()
//   subtracts the buckets that left the window, oldest first, in calls of at
//   most `incremental_chunk` bucket members each: every call subtracts the
//   members' weighted scores from :agg, removes them from the bucket (the
//   bucket itself is the cursor, so a retried call never subtracts twice) and
//   drops aggregate members whose score fell to `zero_epsilon` or below. No
//   call blocks Redis for long however many members there are.
//   TTL versus subtraction: the state's `frontier` is the oldest bucket still
//   counted in :agg. A bucket's keys expire one bucket after it leaves the
//   window, so subtraction must reach it within that bucket. A subtraction
//   call first checks (with the same clock the TTL runs on) that the frontier
//   bucket has not reached its expiry; when it has (nobody called refresh()
//   for more than one bucket), its contents may be gone and refresh()
//   rebuilds :agg from the window's buckets with one ZUNIONSTORE instead: the
//   one case in which an Incremental call costs as much as a Union refresh.
//   Call refresh() at least once per bucket to stay in the bounded regime.
//   :agg and :state expire window + bucket after the last record, when
//   everything in them has left the window.
//
// Scores are doubles. Deltas and weights are positive and finite, so every
// member of the window has a positive score; members whose weighted score is
// <= zero_epsilon are not listed by top(), rank(), score() and snapshot(), in
// both modes, so they agree (Incremental mode may keep such a member in :agg
// until a subtraction removes it; the readers skip it). In Incremental
// mode sums are formed in another order than ZUNIONSTORE forms them and may
// differ in the last bits; members whose exact scores tie may then be ordered
// differently than in Union mode. With weights and deltas that are exact
// binary fractions of moderate size (1, 0.5, 0.25, integers) both are exact.
//
// Ties: equal scores are ordered by member, descending byte order (what
// ZREVRANGE does): of "apple" and "pear" at the same score, "pear" ranks first.
//
// Thread-safety: an instance may be shared by any number of threads when its
// client is a pool (StandaloneClient is). Many instances and processes may
// work on one ranking at once.
//
// Retries: an event recorded with an event id is counted once however often
// it is sent (RecordStatus::Duplicate). Ids are remembered per bucket, as long
// as the bucket's keys live, so a retry must carry the same `at` (the event's
// own time) to land in the same bucket. An event without an id is counted
// every time it is sent: a retry after a TimeoutError whose first attempt took
// effect counts it twice.
//
// Errors: InvalidArgument for bad options or arguments, raised before any I/O;
// ConnectionError, TimeoutError, ReplyError and ProtocolError from the
// transport.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/export.hpp"
#include "flashsale/preflight.hpp"

namespace flashsale {

using RankingTime = std::chrono::system_clock::time_point;

enum class RankingMode { Union, Incremental };

struct RankingMetric {
  // Part of the bucket keys: a key id (1..128 bytes, no braces, whitespace or
  // control characters) without ':', and not "agg", "state" or "seen".
  std::string name;
  // Finite and > 0. The ranking score is the sum over metrics of
  // weight x (sum of the metric's deltas in the window).
  double weight = 1.0;
};

struct SlidingWindowRankingOptions {
  std::string name;  // R in the keys; a key id
  std::chrono::milliseconds window{std::chrono::hours(24)};
  std::chrono::milliseconds bucket{std::chrono::hours(1)};  // window is a multiple of it
  std::vector<RankingMetric> metrics;                       // at least one, unique names
  RankingMode mode = RankingMode::Union;
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // Incremental mode: most bucket members one subtraction call handles
  // (1..kMaxRankingIncrementalChunk).
  std::size_t incremental_chunk = 64;
  // Weighted scores <= this count as zero: such members are not listed. >= 0.
  double zero_epsilon = 1e-9;
  // Where "now" comes from. Empty: the Redis server's clock (recommended:
  // app servers with skewed clocks agree). Set it for replays and tests; the
  // bucket keys' TTLs are then computed relative to it.
  std::function<RankingTime()> clock;
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
};

// Longest member (product id) in bytes.
inline constexpr std::size_t kMaxRankingMemberBytes = 1024;
// Longest event id in bytes.
inline constexpr std::size_t kMaxRankingEventIdBytes = 256;
// Most bucket keys one window spans (window / bucket x metrics): the Union
// refresh passes them all to one ZUNIONSTORE inside a script.
inline constexpr std::size_t kMaxRankingWindowKeys = 3000;
// Largest n of top() and snapshot().
inline constexpr std::size_t kMaxRankingTopN = 1'000'000;
// Largest weighted score (delta x weight, summed) one member may have in one
// bucket of one metric. With at most kMaxRankingWindowKeys bucket keys every
// window sum stays finite (below 3e303), so no score becomes +inf and no
// Incremental subtraction meets inf - inf: every call stays all-or-nothing.
inline constexpr double kMaxRankingScore = 1e300;
// Largest incremental_chunk (bucket members one subtraction call handles).
inline constexpr std::size_t kMaxRankingIncrementalChunk = 100'000;

enum class RecordStatus {
  Recorded,
  OutsideWindow,  // the bucket already left the window, or is after the current one
  Duplicate,      // an event with this id was already recorded in this bucket
  // The member's weighted score in this bucket would exceed kMaxRankingScore:
  // nothing was written (the event id, if any, is not remembered).
  ScoreLimit,
};

struct RecordResult {
  RecordStatus status = RecordStatus::OutsideWindow;
  RankingTime bucket_start;  // the bucket the event belongs to
};

struct RankingEvent {
  RankingEvent() = default;
  RankingEvent(std::string member, std::string metric, double delta = 1.0,
               std::optional<RankingTime> at = std::nullopt, std::string event_id = {})
      : member(std::move(member)),
        metric(std::move(metric)),
        delta(delta),
        at(at),
        event_id(std::move(event_id)) {}

  std::string member;
  std::string metric;
  double delta = 1.0;             // finite and > 0
  std::optional<RankingTime> at;  // empty: now (back-filling: a time in the window)
  std::string event_id;           // empty: none; else 1..kMaxRankingEventIdBytes, see Retries
};

struct RankedMember {
  std::string member;
  double score = 0;
};

enum class RefreshStatus {
  Refreshed,  // Union: aggregated anew. Incremental: caught up with the window
  Unchanged,  // Union: nothing was recorded and the window did not move since the last refresh
  Rebuilt,    // Incremental: subtraction had fallen behind; :agg was rebuilt with a union
};

struct RefreshResult {
  RefreshStatus status = RefreshStatus::Unchanged;
  std::size_t calls = 0;               // Redis script calls this refresh made
  std::size_t members_subtracted = 0;  // Incremental: bucket members subtracted
};

struct RankingSnapshot {
  std::vector<RankedMember> members;  // best first
  RankingTime taken_at;               // by the ranking's clock (server time by default)
};

enum class RankingSource { Redis, Fallback };

struct RankingView {
  std::vector<RankedMember> members;
  RankingSource source = RankingSource::Redis;
};

// Returns the host's stored copy (e.g. the last snapshot()), best first; it is
// called with the n asked for.
using RankingFallback = std::function<std::vector<RankedMember>(std::size_t n)>;

class FLASHSALE_EXPORT SlidingWindowRanking {
 public:
  // Validates the options (InvalidArgument, before any I/O), then runs the
  // eviction policy check. `client` must outlive the ranking.
  SlidingWindowRanking(Client& client, SlidingWindowRankingOptions options);

  // Adds `delta` to `member` in `metric` in the bucket of `at` (default now),
  // once per `event_id` when one is given (see Retries).
  // InvalidArgument: empty or too long member, unknown metric, delta not
  // finite or <= 0, delta x weight above kMaxRankingScore, `at` before the
  // epoch, event id too long.
  RecordResult record(std::string_view member, std::string_view metric, double delta,
                      std::optional<RankingTime> at = std::nullopt, std::string_view event_id = {});
  // The same for many events in one pipeline; results in order. All events
  // are validated before anything is sent.
  std::vector<RecordResult> record_many(const std::vector<RankingEvent>& events);

  // Brings :agg up to date with the window (see the modes above). Call it
  // periodically, at least once per bucket in Incremental mode.
  RefreshResult refresh();
  // Recomputes :agg from the window's buckets with one ZUNIONSTORE, in either
  // mode, even when unchanged (O(N) + O(M log M): blocks Redis while it runs).
  // For recovery, e.g. after buckets were restored.
  RefreshResult rebuild();

  // The n best members with their scores, best first. n == 0 sends nothing;
  // InvalidArgument above kMaxRankingTopN.
  std::vector<RankedMember> top(std::size_t n);
  // 0-based position (0 = best); nullopt when not ranked.
  std::optional<std::size_t> rank(std::string_view member);
  std::optional<double> score(std::string_view member);
  // top(n) with the time it was taken, to keep in the host database.
  RankingSnapshot snapshot(std::size_t n);
  // top(n), or fallback(n) when Redis is unreachable (ConnectionError,
  // including TimeoutError). Other errors propagate.
  RankingView top_or_fallback(std::size_t n, const RankingFallback& fallback);

  const SlidingWindowRankingOptions& options() const noexcept { return options_; }
  // The key of one metric's bucket (the bucket containing `at`).
  std::string bucket_key(std::string_view metric, RankingTime at) const;
  const std::string& aggregate_key() const noexcept { return aggregate_key_; }

 private:
  std::size_t metric_index(std::string_view metric) const;
  long long bucket_start_ms(long long time_ms) const;
  std::string bucket_key_at(std::size_t metric, long long bucket_start_ms) const;
  std::optional<long long> clock_now_ms() const;
  long long estimated_now_ms() const;
  void learn_server_time(long long server_now_ms);
  ScriptCall record_call(const RankingEvent& event, std::size_t metric, long long bucket_ms,
                         bool bucket_is_current) const;
  RefreshResult run_union(bool skip_if_unchanged);
  RefreshResult run_subtraction();
  Command top_command(std::size_t n) const;
  bool listed(double score) const noexcept;

  Client& client_;
  SlidingWindowRankingOptions options_;
  std::string tagged_;
  std::string aggregate_key_;
  std::string staging_key_;
  std::string state_key_;
  long long window_ms_ = 0;
  long long bucket_ms_ = 0;
  std::mutex refresh_mutex_;
  // Server clock minus the local system clock, learnt from script replies;
  // lets the client guess the current bucket's keys without a round trip.
  std::atomic<long long> server_offset_ms_{0};
  std::optional<long long> frontier_ms_;  // guarded by refresh_mutex_
};

}  // namespace flashsale
