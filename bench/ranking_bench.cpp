// SlidingWindowRanking at scale: the Union refresh (one ZUNIONSTORE + RENAME
// over 24 hourly buckets) against the longest single call of the Incremental
// mode's subtraction of an expired bucket, at 10k, 100k and 500k members.
//
// Starts a private redis-server (or uses FLASHSALE_BENCH_REDIS=host:port) and
// reads every script call's duration from the slowlog (bench::ScriptTimer),
// so the figures are the server's own execution times: how long each call
// blocked Redis. Per size, each of 2 metrics (sales x 1, revenue x 0.001)
// holds members/8 random members in each of the 24 buckets (6 x members
// bucket entries in all; nearly every member appears in the aggregate).
//
//   union_refresh/N:       wall time of refresh(); counters server_ms (the
//                          aggregation script's time by SLOWLOG), members
//   incremental_expire/N/C: with incremental_chunk C (64, the default, and 1000),
//                          one bucket leaves the window per iteration and
//                          refresh() subtracts it; counters longest_call_us
//                          median_call_us, p99_call_us and p999_call_us (by
//                          SLOWLOG), calls, timed_calls
//                          (calls found in SLOWLOG: equals calls), subtracted,
//                          longest_to_union = longest_call_us / union server time
//
// Run: build/ci/bench/ranking_bench   (about 2 minutes; ~1 GB of Redis memory)

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/error.hpp"
#include "flashsale/script.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/standalone_client.hpp"
#include "script_timer.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::Command;
using flashsale::RankingMode;
using flashsale::RankingTime;
using flashsale::SlidingWindowRanking;
using flashsale::SlidingWindowRankingOptions;
using flashsale::StandaloneClient;

constexpr int kBuckets = 24;
constexpr int kMembersPerBucketDivisor = 8;

// One data set per size, loaded into the buckets of the window ending at the
// start of the shared clock.
struct Workload {
  std::shared_ptr<std::atomic<long long>> now_ms;
  std::unique_ptr<SlidingWindowRanking> union_ranking;
  std::unique_ptr<SlidingWindowRanking> incremental_ranking;
  bool incremental_aggregate_built = false;
  double union_server_us = 0;  // median of the Union refresh's server time
};

flashsale::ConnectionOptions patient(flashsale::ConnectionOptions options) {
  options.command_timeout = 120s;  // a Union refresh at 500k members takes a while
  return options;
}

struct Environment {
  bench::BenchServer server;
  StandaloneClient client{patient(server.connection_options()), flashsale::PoolOptions{2, 10s}};
  std::map<long long, Workload> workloads;
  bench::ScriptTimer timer{server};
};

Environment& environment() {
  static Environment instance;
  return instance;
}

SlidingWindowRankingOptions bench_options(long long members, RankingMode mode,
                                          std::shared_ptr<std::atomic<long long>> now_ms,
                                          std::size_t chunk = 64) {
  SlidingWindowRankingOptions options;
  options.name = "bench-" + std::to_string(members);
  options.window = 24h;
  options.bucket = 1h;
  options.metrics = {{"sales", 1.0}, {"revenue", 0.001}};
  options.mode = mode;
  options.incremental_chunk = chunk;
  options.clock = [now_ms] { return RankingTime(std::chrono::milliseconds(now_ms->load())); };
  return options;
}

Workload& workload(long long members) {
  auto& env = environment();
  auto found = env.workloads.find(members);
  if (found != env.workloads.end()) {
    return found->second;
  }
  // One size at a time in memory.
  env.client.execute({{"FLUSHALL"}, {}, {}});
  env.workloads.clear();
  Workload& load = env.workloads[members];
  const long long hour = 3'600'000;
  const long long real_now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  load.now_ms = std::make_shared<std::atomic<long long>>(real_now - real_now % hour + hour / 2);
  load.union_ranking = std::make_unique<SlidingWindowRanking>(
      env.client, bench_options(members, RankingMode::Union, load.now_ms));
  load.incremental_ranking = std::make_unique<SlidingWindowRanking>(
      env.client, bench_options(members, RankingMode::Incremental, load.now_ms));

  std::mt19937_64 random(static_cast<std::uint64_t>(members));
  const long long per_bucket = members / kMembersPerBucketDivisor;
  const long long current = load.now_ms->load() - load.now_ms->load() % hour;
  std::vector<Command> batch;
  for (int bucket = 0; bucket < kBuckets; ++bucket) {
    const RankingTime at{std::chrono::milliseconds(current - bucket * hour)};
    for (const char* metric : {"sales", "revenue"}) {
      const std::string key = load.union_ranking->bucket_key(metric, at);
      Command command{{"ZADD", key}, key, {}};
      for (long long i = 0; i < per_bucket; ++i) {
        command.arguments.push_back(std::to_string(1 + random() % 50));
        command.arguments.push_back("product-" + std::to_string(random() % members));
        if (command.arguments.size() >= 2 + 2 * 1000 || i + 1 == per_bucket) {
          batch.push_back(std::move(command));
          command = Command{{"ZADD", key}, key, {}};
        }
        if (batch.size() == 64) {
          env.client.execute_pipeline(batch);
          batch.clear();
        }
      }
    }
  }
  if (!batch.empty()) {
    env.client.execute_pipeline(batch);
  }
  // Load both scripts now, so no measured call meets NOSCRIPT.
  load.union_ranking->refresh();
  load.incremental_ranking->refresh();
  return load;
}

void union_refresh(benchmark::State& state) {
  const long long members = state.range(0);
  Workload& load = workload(members);
  const auto& script = flashsale::bundled_script("ranking_aggregate_window");
  std::vector<long long> server_us;
  for (auto _ : state) {
    state.PauseTiming();
    load.union_ranking->record("fresh-sale", "sales", 1);  // so refresh() has work to do
    flashsale::RefreshResult result;
    const auto durations = environment().timer.time(script, [&] {
      state.ResumeTiming();
      result = load.union_ranking->refresh();
      state.PauseTiming();
    });
    if (result.status != flashsale::RefreshStatus::Refreshed) {
      state.SkipWithError("refresh() did not aggregate");
      break;
    }
    if (durations.size() != 1) {
      state.SkipWithError("expected one aggregation call in SLOWLOG");
      break;
    }
    server_us.push_back(durations.front());
    state.ResumeTiming();
  }
  load.union_server_us = static_cast<double>(bench::percentile(server_us, 0.5));
  const auto aggregate = load.union_ranking->aggregate_key();
  state.counters["members"] = static_cast<double>(
      environment().client.execute({{"ZCARD", aggregate}, aggregate, {}}).as_integer());
  state.counters["server_ms"] = load.union_server_us / 1000.0;
}

void incremental_expire(benchmark::State& state) {
  const long long members = state.range(0);
  const auto chunk = static_cast<std::size_t>(state.range(1));
  Workload& load = workload(members);
  const auto& script = flashsale::bundled_script("ranking_subtract_expired");
  SlidingWindowRanking ranking(
      environment().client, bench_options(members, RankingMode::Incremental, load.now_ms, chunk));
  if (!load.incremental_aggregate_built) {
    ranking.rebuild();  // the aggregate and frontier of the window, as records would leave them
    load.incremental_aggregate_built = true;
  }
  std::vector<long long> call_us;
  std::size_t calls = 0;
  std::size_t subtracted = 0;
  for (auto _ : state) {
    state.PauseTiming();
    *load.now_ms += 3'600'000;  // the oldest bucket leaves the window
    flashsale::RefreshResult result;
    const auto durations = environment().timer.time(script, [&] {
      state.ResumeTiming();
      result = ranking.refresh();
      state.PauseTiming();
    });
    if (result.status != flashsale::RefreshStatus::Refreshed) {
      state.SkipWithError("refresh() did not subtract incrementally");
      break;
    }
    calls += result.calls;
    subtracted += result.members_subtracted;
    call_us.insert(call_us.end(), durations.begin(), durations.end());
    state.ResumeTiming();
  }
  const long long longest_us = bench::percentile(call_us, 1.0);
  state.counters["longest_call_us"] = static_cast<double>(longest_us);
  state.counters["median_call_us"] = static_cast<double>(bench::percentile(call_us, 0.5));
  state.counters["p99_call_us"] = static_cast<double>(bench::percentile(call_us, 0.99));
  state.counters["p999_call_us"] = static_cast<double>(bench::percentile(call_us, 0.999));
  state.counters["calls"] = static_cast<double>(calls);
  state.counters["timed_calls"] = static_cast<double>(call_us.size());
  state.counters["subtracted"] = static_cast<double>(subtracted);
  if (load.union_server_us > 0) {
    state.counters["longest_to_union"] = static_cast<double>(longest_us) / load.union_server_us;
  }
}

void register_benchmarks(bool smoke) {
  const std::vector<long long> sizes =
      smoke ? std::vector<long long>{2'000} : std::vector<long long>{10'000, 100'000, 500'000};
  for (const long long members : sizes) {
    benchmark::RegisterBenchmark("union_refresh", union_refresh)
        ->Arg(members)
        ->Iterations(5)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("incremental_expire", incremental_expire)
        ->Args({members, 64})
        ->Args({members, 1000})
        ->Iterations(3)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_benchmarks(bench::BenchArgs(argc, argv).smoke());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
