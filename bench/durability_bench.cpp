// The cost of opt-in durability (DurabilityOptions: WAIT 1 behind every
// state-changing script, in the same pipeline): coupon issues per second on a
// private master with one replica, with and without WAIT, at 1 and 8 threads,
// in the same run, best of --rounds rounds each (interleaved, so load on the
// machine hits both alike).
//
//   durability_bench [--smoke] [--operations N] [--rounds R]
//
// Prints a table and `durable/plain at 8 threads <ratio>` last. The ceiling
// of a durable write is the replica's acknowledgement: one extra replication
// round trip per call (per pipeline). Nothing is asserted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Issues per second of `operations` issue calls by `threads` threads, each to
// a new user of one coupon with enough stock for all.
double issues_per_second(flashsale::StandaloneClient& client, const std::string& coupon_id,
                         long long operations, int threads) {
  flashsale::FirstComeCouponIssuerOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::FirstComeCouponIssuer issuer(client, options);
  const auto now = std::chrono::system_clock::now();
  flashsale::CouponTemplate coupon;
  coupon.id = coupon_id;
  coupon.total = operations;
  coupon.opens_at = now - std::chrono::hours(1);
  coupon.closes_at = now + std::chrono::hours(1);
  issuer.register_template(coupon);
  std::atomic<long long> next{0};
  std::atomic<long long> failed{0};
  const auto started = Clock::now();
  std::vector<std::thread> workers;
  for (int thread = 0; thread < threads; ++thread) {
    workers.emplace_back([&] {
      for (long long call = next++; call < operations; call = next++) {
        try {
          if (issuer.issue(coupon_id, "user-" + std::to_string(call)).status !=
              flashsale::IssueStatus::Issued) {
            ++failed;
          }
        } catch (const flashsale::Error&) {
          ++failed;
        }
      }
    });
  }
  for (auto& worker : workers) {
    worker.join();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (failed > 0) {
    std::fprintf(stderr, "%lld calls of %s did not issue\n", failed.load(), coupon_id.c_str());
  }
  return static_cast<double>(operations) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const bool smoke = args.smoke();
  const long long operations = args.number("operations", smoke ? 400 : 20000, 100);
  const int rounds = static_cast<int>(args.number("rounds", smoke ? 1 : 3));
  try {
    flashsale::testing::RedisServer master;
    flashsale::testing::RedisServerOptions replica_options;
    replica_options.config_lines = {"replicaof 127.0.0.1 " + std::to_string(master.port())};
    flashsale::testing::RedisServer replica(replica_options);
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (master.admin()
               .execute({{"INFO", "replication"}, {}, {}})
               .as_string()
               .find("state=online") == std::string::npos) {
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "the replica did not come online\n");
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    std::printf("master 127.0.0.1:%d, replica 127.0.0.1:%d, %lld issues per cell, best of %d\n",
                master.port(), replica.port(), operations, rounds);
    std::printf("%-8s %7s %12s %8s\n", "mode", "threads", "issues/s", "ratio");
    double ratio_at_8 = 0;
    int cell = 0;
    for (const int threads : {1, 8}) {
      double best_plain = 0;
      double best_durable = 0;
      for (int round = 0; round < rounds; ++round) {
        for (const bool durable : {false, true}) {
          auto options = master.connection_options();
          options.persistence_check = flashsale::PersistenceCheck::Skip;
          if (durable) {
            options.durability.replicas = 1;
            options.durability.timeout = std::chrono::milliseconds(1000);
          }
          flashsale::PoolOptions pool;
          pool.size = static_cast<std::size_t>(threads);
          flashsale::StandaloneClient client(options, pool);
          const double rate =
              issues_per_second(client, "bench-" + std::to_string(cell++), operations, threads);
          (durable ? best_durable : best_plain) =
              std::max(durable ? best_durable : best_plain, rate);
        }
      }
      const double ratio = best_durable / best_plain;
      std::printf("%-8s %7d %12.0f %8s\n", "plain", threads, best_plain, "1.00");
      std::printf("%-8s %7d %12.0f %8.2f\n", "WAIT 1", threads, best_durable, ratio);
      if (threads == 8) {
        ratio_at_8 = ratio;
      }
    }
    std::printf("durable/plain at 8 threads %.2f\n", ratio_at_8);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "durability_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
