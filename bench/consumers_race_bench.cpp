// A coupon race on the request path while 100 StreamConsumers persist its
// events, all on ONE StandaloneClient (pool of 32), against the same server
// in the same run:
//   off        no consumers: the race alone (the ceiling of this run)
//   own-conn   100 consumers, blocking reads on their own connections (default)
//   pool       100 consumers, blocking reads through the client's pool
//              (blocking_reads_on_own_connection = false: the old behaviour)
//
//   consumers_race_bench [--smoke] [--operations N] [--consumers N]
//
// Each row: issue calls per second, p99 latency, calls that failed (pool wait
// timeouts), and the ratio to `off`. A round stops after 30 s even when its
// operations are not done (the `pool` row can be that slow); the rate counts
// the calls made. Nothing is asserted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/log.hpp"
#include "flashsale/stream_consumer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kRaceThreads = 16;

struct Row {
  double per_second = 0;
  double p99_ms = 0;
  long long failed = 0;
  long long persisted = 0;
};

Row race(flashsale::Client& client, long long operations, int consumers, bool own_connection,
         int round) {
  flashsale::FirstComeCouponIssuerOptions issuer_options;
  issuer_options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::FirstComeCouponIssuer issuer(client, issuer_options);
  const std::string coupon = "race-" + std::to_string(round);
  const auto now = std::chrono::system_clock::now();
  issuer.register_template(
      {coupon, operations, now - std::chrono::hours(1), now + std::chrono::hours(1), 1});

  std::atomic<long long> persisted{0};
  std::vector<std::unique_ptr<flashsale::StreamConsumer>> group;
  std::vector<std::thread> consumer_threads;
  for (int i = 0; i < consumers; ++i) {
    flashsale::StreamConsumerOptions options;
    options.streams = {issuer.events_stream(coupon)};
    options.group = "persist";
    options.consumer = "c" + std::to_string(i);
    options.block_timeout = std::chrono::milliseconds(2000);
    options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
    options.blocking_reads_on_own_connection = own_connection;
    group.push_back(std::make_unique<flashsale::StreamConsumer>(client, options));
  }
  for (auto& consumer : group) {
    consumer_threads.emplace_back([&persisted, &consumer] {
      while (!consumer->stop_requested()) {
        try {
          consumer->run_batches([&persisted](const std::vector<flashsale::StreamMessage>& batch) {
            persisted += static_cast<long long>(batch.size());
            return std::vector<flashsale::HandlerOutcome>(batch.size(),
                                                          flashsale::HandlerOutcome::Ack);
          });
        } catch (const flashsale::Error&) {
          // A pool wait timeout ends run(); a host would start it again.
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(consumers > 0 ? 500 : 0));

  std::atomic<long long> failed{0};
  std::atomic<long long> made{0};
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  std::vector<std::vector<double>> latencies(kRaceThreads);
  const long long per_thread = operations / kRaceThreads;
  const auto started = Clock::now();
  std::vector<std::thread> racers;
  for (int thread = 0; thread < kRaceThreads; ++thread) {
    racers.emplace_back([&, thread] {
      auto& mine = latencies[thread];
      for (long long index = 0; index < per_thread && Clock::now() < give_up; ++index) {
        const auto begin = Clock::now();
        ++made;
        try {
          issuer.issue(coupon, "u" + std::to_string(thread * per_thread + index));
        } catch (const flashsale::Error&) {
          ++failed;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
      }
    });
  }
  for (auto& racer : racers) {
    racer.join();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  for (auto& consumer : group) {
    consumer->stop();
  }
  for (auto& thread : consumer_threads) {
    thread.join();
  }
  std::vector<double> all;
  for (const auto& mine : latencies) {
    all.insert(all.end(), mine.begin(), mine.end());
  }
  Row row;
  row.per_second = static_cast<double>(made.load()) / seconds;
  row.p99_ms = bench::percentile(std::move(all), 0.99);
  row.failed = failed;
  row.persisted = persisted;
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const long long operations = args.number("operations", args.smoke() ? 320 : 40000, 64);
  const int consumers = static_cast<int>(args.number("consumers", args.smoke() ? 10 : 100));
  try {
    // Pool wait timeouts of the `pool` row would flood the log.
    flashsale::set_log_sink([](flashsale::LogLevel, std::string_view) {});
    bench::BenchServer server;
    auto client = server.make_client(32);
    std::printf("%-9s %9s %12s %9s %8s %10s %9s\n", "consumers", "mode", "issues/s", "p99 ms",
                "failed", "persisted", "vs off");
    const Row off = race(*client, operations, 0, true, 0);
    std::printf("%-9d %9s %12.0f %9.3f %8lld %10lld %9.2f\n", 0, "off", off.per_second, off.p99_ms,
                off.failed, off.persisted, 1.0);
    std::fflush(stdout);
    const Row own = race(*client, operations, consumers, true, 1);
    std::printf("%-9d %9s %12.0f %9.3f %8lld %10lld %9.2f\n", consumers, "own-conn", own.per_second,
                own.p99_ms, own.failed, own.persisted, own.per_second / off.per_second);
    const Row pool = race(*client, operations, consumers, false, 2);
    std::printf("%-9d %9s %12.0f %9.3f %8lld %10lld %9.2f\n", consumers, "pool", pool.per_second,
                pool.p99_ms, pool.failed, pool.persisted, pool.per_second / off.per_second);
    flashsale::set_log_sink({});
  } catch (const std::exception& error) {
    std::fprintf(stderr, "consumers_race_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
