#include "flashsale/sliding_window_ranking.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "common/option_checks.hpp"
#include "common/script_reply.hpp"
#include "common/status_words.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/script.hpp"
#include "lua/scripts.hpp"

namespace flashsale {

using detail::from_epoch_ms;
using detail::ReplyReader;
using detail::StatusWord;
using detail::to_epoch_ms;

namespace {

// kMaxRankingWindowKeys keeps the aggregation script's unpack() of the
// ZUNIONSTORE arguments (2 per key) under Lua's limit of about 8000 values.
static_assert(2 * kMaxRankingWindowKeys + 8 < 8000);
// A script finds the window moved (a bucket boundary passed, or the guess of
// the server clock was off) at most a few times in a row.
constexpr int kMaxWindowAttempts = 5;

long long local_now_ms() {
  return to_epoch_ms(std::chrono::system_clock::now());
}

// Shortest text that reads back as the same double (Lua's tonumber and
// Redis's score parsing are exact on it).
std::string number_text(double value) {
  return fmt::format("{}", value);
}

bool positive_finite(double value) {
  return std::isfinite(value) && value > 0;
}

void validate_member(std::string_view member) {
  validate_member_id(member, "ranking member", kMaxRankingMemberBytes);
}

void validate_options(const SlidingWindowRankingOptions& options) {
  validate_key_id(options.name, "ranking name");
  using std::chrono::milliseconds;
  const detail::OptionChecks checks("SlidingWindowRankingOptions");
  checks.at_least("bucket", options.bucket, milliseconds{1})
      .at_least("window", options.window, milliseconds{1})
      .require(options.window % options.bucket == milliseconds::zero(), "window",
               fmt::format("must be a multiple of bucket ({} ms)", options.bucket.count()),
               options.window)
      .at_least("metrics.size()", options.metrics.size(), std::size_t{1});
  std::set<std::string_view> names;
  for (const auto& metric : options.metrics) {
    validate_key_id(metric.name, "ranking metric name");
    if (metric.name.find(':') != std::string::npos) {
      throw InvalidArgument(fmt::format("ranking metric name \"{}\" contains ':'", metric.name));
    }
    if (metric.name == "agg" || metric.name == "state" || metric.name == "seen") {
      throw InvalidArgument(fmt::format("ranking metric name \"{}\" is reserved", metric.name));
    }
    if (!names.insert(metric.name).second) {
      throw InvalidArgument(fmt::format("ranking metric \"{}\" is listed twice", metric.name));
    }
    checks.require(positive_finite(metric.weight), "metrics.weight",
                   fmt::format("of \"{}\" must be finite and > 0", metric.name), metric.weight);
  }
  const auto buckets = static_cast<std::size_t>(options.window / options.bucket);
  checks
      .require(buckets <= kMaxRankingWindowKeys / options.metrics.size(), "window",
               fmt::format("/ bucket x metrics must be at most kMaxRankingWindowKeys ({})",
                           kMaxRankingWindowKeys),
               fmt::format("{} x {}", buckets, options.metrics.size()))
      .between("incremental_chunk", options.incremental_chunk, std::size_t{1},
               kMaxRankingIncrementalChunk)
      .require(std::isfinite(options.zero_epsilon) && options.zero_epsilon >= 0, "zero_epsilon",
               "must be finite and >= 0", options.zero_epsilon);
}

// Every ranking script replies {status word, time in ms, time or count}.
enum class ScriptStatus {
  Recorded,
  Duplicate,
  OutsideWindow,
  ScoreLimit,
  NotCurrent,
  Aggregated,
  Unchanged,
  CaughtUp,
  Progress,
  NotFrontier,
  FrontierExpired,
};

struct ScriptOutcome {
  ScriptStatus status;
  long long first = 0;
  long long second = 0;
};

constexpr StatusWord<ScriptStatus> kRecordWords[] = {
    {"recorded", ScriptStatus::Recorded},
    {"duplicate", ScriptStatus::Duplicate},
    {"outside_window", ScriptStatus::OutsideWindow},
    {"score_limit", ScriptStatus::ScoreLimit},
    {"not_current", ScriptStatus::NotCurrent}};
constexpr StatusWord<ScriptStatus> kAggregateWords[] = {{"aggregated", ScriptStatus::Aggregated},
                                                        {"unchanged", ScriptStatus::Unchanged},
                                                        {"not_current", ScriptStatus::NotCurrent}};
constexpr StatusWord<ScriptStatus> kSubtractWords[] = {
    {"caught_up", ScriptStatus::CaughtUp},
    {"progress", ScriptStatus::Progress},
    {"not_frontier", ScriptStatus::NotFrontier},
    {"frontier_expired", ScriptStatus::FrontierExpired}};

template <std::size_t kCount>
ScriptOutcome read_outcome(const Reply& reply, std::string_view script,
                           const StatusWord<ScriptStatus> (&words)[kCount]) {
  ReplyReader reader(reply, script, 3);
  const ScriptStatus status = reader.status(words);
  const long long first = reader.integer();
  return {status, first, reader.integer()};
}

std::vector<RankedMember> parse_ranked(const Reply& reply) {
  std::vector<RankedMember> members;
  for (auto& [member, score] : detail::with_scores(reply, "ranking top")) {
    members.push_back({std::move(member), score});
  }
  return members;
}

void validate_top_n(std::size_t n) {
  if (n > kMaxRankingTopN) {
    throw InvalidArgument(fmt::format("top n must be at most {}, got {}", kMaxRankingTopN, n));
  }
}

}  // namespace

SlidingWindowRanking::SlidingWindowRanking(Client& client, SlidingWindowRankingOptions options)
    : client_(client), options_(std::move(options)) {
  validate_options(options_);
  tagged_ = KeySpace(options_.key_prefix).tagged("rank", options_.name);
  aggregate_key_ = tagged_ + ":agg";
  staging_key_ = tagged_ + ":agg:tmp";
  state_key_ = tagged_ + ":state";
  window_ms_ = options_.window.count();
  bucket_ms_ = options_.bucket.count();
  std::vector<std::string> probe_keys{state_key_, aggregate_key_, staging_key_,
                                      fmt::format("{}:seen:0", tagged_)};
  for (std::size_t metric = 0; metric < options_.metrics.size(); ++metric) {
    probe_keys.push_back(bucket_key_at(metric, 0));
  }
  require_single_slot(probe_keys, "ranking scripts");
  check_eviction_policy(client_, options_.eviction_check);
}

std::size_t SlidingWindowRanking::metric_index(std::string_view metric) const {
  for (std::size_t i = 0; i < options_.metrics.size(); ++i) {
    if (options_.metrics[i].name == metric) {
      return i;
    }
  }
  throw InvalidArgument(
      fmt::format("ranking \"{}\" has no metric \"{}\"", options_.name, std::string(metric)));
}

long long SlidingWindowRanking::bucket_start_ms(long long time_ms) const {
  return time_ms - time_ms % bucket_ms_;
}

std::string SlidingWindowRanking::bucket_key_at(std::size_t metric, long long bucket_ms) const {
  return fmt::format("{}:{}:{}", tagged_, options_.metrics[metric].name, bucket_ms);
}

std::string SlidingWindowRanking::bucket_key(std::string_view metric, RankingTime at) const {
  const long long at_ms = to_epoch_ms(at);
  if (at_ms < 0) {
    throw InvalidArgument("ranking time before the Unix epoch");
  }
  return bucket_key_at(metric_index(metric), bucket_start_ms(at_ms));
}

std::optional<long long> SlidingWindowRanking::clock_now_ms() const {
  if (!options_.clock) {
    return std::nullopt;
  }
  return to_epoch_ms(options_.clock());
}

long long SlidingWindowRanking::estimated_now_ms() const {
  return local_now_ms() + server_offset_ms_.load(std::memory_order_relaxed);
}

void SlidingWindowRanking::learn_server_time(long long server_now_ms) {
  if (!options_.clock) {
    server_offset_ms_.store(server_now_ms - local_now_ms(), std::memory_order_relaxed);
  }
}

ScriptCall SlidingWindowRanking::record_call(const RankingEvent& event, std::size_t metric,
                                             long long bucket_ms, bool bucket_is_current) const {
  const auto now = clock_now_ms();
  return ScriptCall{
      &detail::scripts::ranking_record,
      {bucket_key_at(metric, bucket_ms), state_key_, aggregate_key_,
       fmt::format("{}:seen:{}", tagged_, bucket_ms)},
      {event.member, number_text(event.delta), number_text(options_.metrics[metric].weight),
       options_.mode == RankingMode::Union ? "union" : "incremental", std::to_string(bucket_ms),
       bucket_is_current ? "1" : "0", now ? std::to_string(*now) : std::string(),
       std::to_string(window_ms_), std::to_string(bucket_ms_), event.event_id,
       number_text(kMaxRankingScore)}};
}

RecordResult SlidingWindowRanking::record(std::string_view member, std::string_view metric,
                                          double delta, std::optional<RankingTime> at,
                                          std::string_view event_id) {
  return record_many({RankingEvent{std::string(member), std::string(metric), delta, at,
                                   std::string(event_id)}})
      .front();
}

std::vector<RecordResult> SlidingWindowRanking::record_many(
    const std::vector<RankingEvent>& events) {
  struct Pending {
    std::size_t metric;
    long long bucket_ms;
    bool is_current;
  };
  std::vector<Pending> pending;
  pending.reserve(events.size());
  for (const auto& event : events) {
    validate_member(event.member);
    const std::size_t metric = metric_index(event.metric);
    if (!positive_finite(event.delta)) {
      throw InvalidArgument(
          fmt::format("ranking delta must be finite and > 0, got {}", event.delta));
    }
    if (event.delta * options_.metrics[metric].weight > kMaxRankingScore) {
      throw InvalidArgument(fmt::format("ranking delta x weight must be at most {}, got {} x {}",
                                        kMaxRankingScore, event.delta,
                                        options_.metrics[metric].weight));
    }
    if (!event.event_id.empty()) {
      validate_member_id(event.event_id, "ranking event id", kMaxRankingEventIdBytes);
    }
    if (event.at) {
      const long long at_ms = to_epoch_ms(*event.at);
      if (at_ms < 0) {
        throw InvalidArgument("ranking event time before the Unix epoch");
      }
      pending.push_back({metric, bucket_start_ms(at_ms), false});
    } else {
      const auto now = clock_now_ms();
      pending.push_back({metric, bucket_start_ms(now ? *now : estimated_now_ms()), true});
    }
  }

  std::vector<RecordResult> results(events.size());
  std::vector<std::size_t> todo(events.size());
  for (std::size_t i = 0; i < todo.size(); ++i) {
    todo[i] = i;
  }
  for (int attempt = 0; !todo.empty(); ++attempt) {
    if (attempt == kMaxWindowAttempts) {
      throw Error("ranking record: the current bucket kept moving; is the server clock jumping?");
    }
    std::vector<ScriptCall> calls;
    calls.reserve(todo.size());
    for (const std::size_t i : todo) {
      calls.push_back(
          record_call(events[i], pending[i].metric, pending[i].bucket_ms, pending[i].is_current));
    }
    const auto replies = client_.run_script_pipeline(calls);
    std::vector<std::size_t> stale;
    for (std::size_t k = 0; k < todo.size(); ++k) {
      const std::size_t i = todo[k];
      const auto reply = read_outcome(replies.at(k), "ranking_record", kRecordWords);
      learn_server_time(reply.second);
      switch (reply.status) {
        case ScriptStatus::NotCurrent:
          pending[i].bucket_ms = reply.first;  // the server's current bucket
          stale.push_back(i);
          continue;
        case ScriptStatus::Recorded:
          results[i].status = RecordStatus::Recorded;
          break;
        case ScriptStatus::Duplicate:
          results[i].status = RecordStatus::Duplicate;
          break;
        case ScriptStatus::ScoreLimit:
          results[i].status = RecordStatus::ScoreLimit;
          break;
        default:
          results[i].status = RecordStatus::OutsideWindow;
          break;
      }
      results[i].bucket_start = from_epoch_ms(pending[i].bucket_ms);
    }
    todo = std::move(stale);
  }
  return results;
}

RefreshResult SlidingWindowRanking::refresh() {
  std::lock_guard<std::mutex> lock(refresh_mutex_);
  return options_.mode == RankingMode::Union ? run_union(true) : run_subtraction();
}

RefreshResult SlidingWindowRanking::rebuild() {
  std::lock_guard<std::mutex> lock(refresh_mutex_);
  return run_union(false);
}

RefreshResult SlidingWindowRanking::run_union(bool skip_if_unchanged) {
  RefreshResult result;
  const auto now = clock_now_ms();
  long long current = bucket_start_ms(now ? *now : estimated_now_ms());
  for (int attempt = 0; attempt < kMaxWindowAttempts; ++attempt) {
    ScriptCall call{
        &detail::scripts::ranking_aggregate_window, {aggregate_key_, staging_key_, state_key_}, {}};
    call.arguments = {std::to_string(current),
                      now ? std::to_string(*now) : std::string(),
                      std::to_string(window_ms_),
                      std::to_string(bucket_ms_),
                      number_text(options_.zero_epsilon),
                      skip_if_unchanged ? "1" : "0",
                      options_.mode == RankingMode::Union ? "union" : "incremental"};
    for (long long bucket = current - window_ms_ + bucket_ms_; bucket <= current;
         bucket += bucket_ms_) {
      for (std::size_t metric = 0; metric < options_.metrics.size(); ++metric) {
        call.keys.push_back(bucket_key_at(metric, bucket));
        call.arguments.push_back(number_text(options_.metrics[metric].weight));
      }
    }
    const auto reply =
        read_outcome(client_.run_script(call), "ranking_aggregate_window", kAggregateWords);
    ++result.calls;
    learn_server_time(reply.second);
    if (reply.status == ScriptStatus::NotCurrent) {
      current = reply.first;
      continue;
    }
    result.status = reply.status == ScriptStatus::Aggregated ? RefreshStatus::Refreshed
                                                             : RefreshStatus::Unchanged;
    if (options_.mode == RankingMode::Incremental) {
      frontier_ms_ = current - window_ms_ + bucket_ms_;
    }
    return result;
  }
  throw Error("ranking refresh: the window kept moving; is the server clock jumping?");
}

RefreshResult SlidingWindowRanking::run_subtraction() {
  RefreshResult result;
  int stale_in_a_row = 0;
  while (true) {
    ScriptCall call{&detail::scripts::ranking_subtract_expired, {state_key_, aggregate_key_}, {}};
    const auto now = clock_now_ms();
    call.arguments = {frontier_ms_ ? std::to_string(*frontier_ms_) : std::string(),
                      now ? std::to_string(*now) : std::string(),
                      std::to_string(window_ms_),
                      std::to_string(bucket_ms_),
                      std::to_string(options_.incremental_chunk),
                      number_text(options_.zero_epsilon)};
    if (frontier_ms_) {
      for (std::size_t metric = 0; metric < options_.metrics.size(); ++metric) {
        call.keys.push_back(bucket_key_at(metric, *frontier_ms_));
        call.arguments.push_back(number_text(options_.metrics[metric].weight));
      }
    }
    const auto reply =
        read_outcome(client_.run_script(call), "ranking_subtract_expired", kSubtractWords);
    ++result.calls;
    switch (reply.status) {
      case ScriptStatus::CaughtUp:
        frontier_ms_ = reply.first;
        result.status = RefreshStatus::Refreshed;
        return result;
      case ScriptStatus::Progress:
        frontier_ms_ = reply.first;
        result.members_subtracted += static_cast<std::size_t>(reply.second);
        stale_in_a_row = 0;
        break;
      case ScriptStatus::NotFrontier:
        frontier_ms_ = reply.first;
        if (++stale_in_a_row == kMaxWindowAttempts) {
          throw Error("ranking refresh: the frontier kept moving under concurrent refreshes");
        }
        break;
      case ScriptStatus::FrontierExpired: {
        const RefreshResult rebuilt = run_union(false);
        result.calls += rebuilt.calls;
        result.status = RefreshStatus::Rebuilt;
        return result;
      }
      default:
        throw ProtocolError("ranking_subtract_expired replied an outcome of another script");
    }
  }
}

// Readers list only members above zero_epsilon. Union mode never keeps
// others in :agg; Incremental mode does until a subtraction removes them (a
// record whose weighted delta is that small), so the readers filter, and both
// modes list the same members.
Command SlidingWindowRanking::top_command(std::size_t n) const {
  return {{"ZREVRANGEBYSCORE", aggregate_key_, "+inf", "(" + number_text(options_.zero_epsilon),
           "WITHSCORES", "LIMIT", "0", std::to_string(n)},
          aggregate_key_,
          {}};
}

bool SlidingWindowRanking::listed(double score) const noexcept {
  return score > options_.zero_epsilon;
}

std::vector<RankedMember> SlidingWindowRanking::top(std::size_t n) {
  validate_top_n(n);
  if (n == 0) {
    return {};
  }
  return parse_ranked(client_.execute(top_command(n)));
}

std::optional<std::size_t> SlidingWindowRanking::rank(std::string_view member) {
  validate_member(member);
  // Members at or below zero_epsilon rank after every listed one, so the
  // rank of a listed member is its ZREVRANK.
  const auto replies = client_.execute_pipeline(
      {{{"ZSCORE", aggregate_key_, std::string(member)}, aggregate_key_, {}},
       {{"ZREVRANK", aggregate_key_, std::string(member)}, aggregate_key_, {}}});
  if (replies.at(0).is_nil() || replies.at(1).is_nil() || !listed(replies[0].as_double())) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(replies[1].as_integer());
}

std::optional<double> SlidingWindowRanking::score(std::string_view member) {
  validate_member(member);
  const Reply reply =
      client_.execute({{"ZSCORE", aggregate_key_, std::string(member)}, aggregate_key_, {}});
  if (reply.is_nil() || !listed(reply.as_double())) {
    return std::nullopt;
  }
  return reply.as_double();
}

RankingSnapshot SlidingWindowRanking::snapshot(std::size_t n) {
  validate_top_n(n);
  RankingSnapshot snapshot;
  if (const auto now = clock_now_ms()) {
    snapshot.taken_at = from_epoch_ms(*now);
    snapshot.members = top(n);
    return snapshot;
  }
  // TIME and the read in one pipeline: the time is the server's, taken just
  // before the ranking was read.
  std::vector<Command> commands{{{"TIME"}, aggregate_key_, {}}};
  if (n > 0) {
    commands.push_back(top_command(n));
  }
  const auto replies = client_.execute_pipeline(commands);
  snapshot.taken_at = from_epoch_ms(detail::time_reply_ms(replies.at(0)));
  if (n > 0) {
    snapshot.members = parse_ranked(replies.at(1));
  }
  return snapshot;
}

RankingView SlidingWindowRanking::top_or_fallback(std::size_t n, const RankingFallback& fallback) {
  validate_top_n(n);
  if (!fallback) {
    throw InvalidArgument("top_or_fallback needs a fallback");
  }
  try {
    return {top(n), RankingSource::Redis};
  } catch (const ConnectionError&) {
    return {fallback(n), RankingSource::Fallback};
  }
}

}  // namespace flashsale
