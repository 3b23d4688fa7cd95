// One hot coupon on a local Redis Cluster of 3 masters, sharded over K = 1, 2,
// 3 sub-coupons (ShardedCouponIssuer): issues/s and the server CPU each
// master spent per issue (INFO cpu, used_cpu_user + used_cpu_sys, before and
// after each round) and the client's allocations per issue (operator new in
// this binary, counted per calling thread; hiredis's mallocs not counted). Every call issues to a
// new user from a stock that never runs out, so every call is the common path (one script on one
// master).
//
//   sharded_coupon_bench [--threads 32] [--calls 200000] [--smoke]
//
// Then the end of a sale for K = 1 and 3: how many winners started after the
// first SoldOut (first-come fairness across shards), transfers, units moved.
//
// What to read: with K = 1 one master does all the work (the ceiling of an
// unsharded coupon); with K = 3 the work spreads evenly over the three. On a
// machine with fewer cores than masters + clients the issues/s cannot scale
// with K (the masters share the cores); the CPU per issue per master is the
// figure a cluster of real machines scales by (README.md gives the model).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "allocation_counter.hpp"
#include "bench_args.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/sharded_coupon_issuer.hpp"
#include "redis_cluster.hpp"

namespace {

// used_cpu_user + used_cpu_sys of a node, in seconds.
double server_cpu_seconds(flashsale::testing::RedisServer& node) {
  const std::string info = node.admin().execute({{"INFO", "cpu"}, {}, {}}).as_string();
  double total = 0;
  for (const char* field : {"used_cpu_user:", "used_cpu_sys:"}) {
    const auto at = info.find(field);
    if (at != std::string::npos) {
      total += std::stod(info.substr(at + std::char_traits<char>::length(field)));
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const int threads = static_cast<int>(args.number("threads", args.smoke() ? 4 : 32));
  const int calls = static_cast<int>(args.number("calls", args.smoke() ? 2'000 : 200'000));

  flashsale::testing::RedisCluster cluster;
  auto client_options = cluster.client_options(static_cast<std::size_t>(threads));
  flashsale::ClusterClient client(client_options);
  const auto now = std::chrono::system_clock::now();

  std::printf("3-master local cluster, %d threads, %d issues per round, every call Issued\n",
              threads, calls);
  std::printf("%-3s %12s %34s %12s %s\n", "K", "issues/s", "server CPU us/issue (m0 m1 m2)",
              "allocs/issue", "shard masters");
  for (std::size_t shards = 1; shards <= 3; ++shards) {
    flashsale::ShardedCouponIssuerOptions options;
    options.shards = shards;
    flashsale::ShardedCouponIssuer issuer(client, options);
    const std::string coupon = "bench-" + std::to_string(shards);
    flashsale::CouponTemplate deal;
    deal.id = coupon;
    deal.total = 1'000'000'000;  // never sold out within a round
    deal.opens_at = now - std::chrono::hours(1);
    deal.closes_at = now + std::chrono::hours(24);
    issuer.register_template(deal);
    std::string masters;
    for (const auto& id : issuer.sub_coupon_ids(coupon)) {
      masters += std::to_string(cluster.master_of_slot(flashsale::hash_slot(id))) + " ";
    }
    // Warm up connections and scripts.
    for (int index = 0; index < 200; ++index) {
      issuer.issue(coupon, "warm-" + std::to_string(index));
    }

    std::vector<double> cpu_before;
    for (std::size_t node = 0; node < 3; ++node) {
      cpu_before.push_back(server_cpu_seconds(cluster.node(node)));
    }
    std::atomic<int> next{0};
    std::atomic<int> not_issued{0};
    std::atomic<std::uint64_t> allocations{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> callers;
    for (int thread = 0; thread < threads; ++thread) {
      callers.emplace_back([&] {
        const std::uint64_t allocations_before = bench::thread_allocations();
        for (int call = next++; call < calls; call = next++) {
          if (issuer.issue(coupon, "user-" + std::to_string(call)).status !=
              flashsale::IssueStatus::Issued) {
            ++not_issued;
          }
        }
        allocations += bench::thread_allocations() - allocations_before;
      });
    }
    for (auto& caller : callers) {
      caller.join();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string cpu;
    for (std::size_t node = 0; node < 3; ++node) {
      const double used = server_cpu_seconds(cluster.node(node)) - cpu_before[node];
      char figure[32];
      std::snprintf(figure, sizeof(figure), "%6.2f ", used * 1e6 / calls);
      cpu += figure;
    }
    std::printf("%-3zu %12.0f %34s %12.1f %s%s\n", shards, calls / seconds, cpu.c_str(),
                static_cast<double>(allocations.load()) / calls, masters.c_str(),
                not_issued > 0 ? "(some calls not Issued!)" : "");
  }

  // The end of a sale: first-come fairness across shards. Calls are numbered
  // in the order they start; a "late winner" is an Issued call that started
  // after the first SoldOut call. With K = 1 only the calls in progress
  // together can be late; the rest of the K = 3 figure is the cost of shards.
  const int sale_units = args.smoke() ? 200 : 10'000;
  const int sale_calls = sale_units * 3;
  std::printf("\nend of sale: %d units, %d calls of distinct users, %d threads\n", sale_units,
              sale_calls, threads);
  std::printf("%-3s %12s %16s %12s %12s\n", "K", "late winners", "first SoldOut", "transfers",
              "units moved");
  for (std::size_t shards : {std::size_t{1}, std::size_t{3}}) {
    flashsale::ShardedCouponIssuerOptions options;
    options.shards = shards;
    flashsale::ShardedCouponIssuer issuer(client, options);
    const std::string coupon = "sale-" + std::to_string(shards);
    flashsale::CouponTemplate deal;
    deal.id = coupon;
    deal.total = sale_units;
    deal.opens_at = now - std::chrono::hours(1);
    deal.closes_at = now + std::chrono::hours(24);
    issuer.register_template(deal);
    std::vector<flashsale::ShardedIssueResult> results(static_cast<std::size_t>(sale_calls));
    std::atomic<int> next{0};
    std::vector<std::thread> callers;
    for (int thread = 0; thread < threads; ++thread) {
      callers.emplace_back([&] {
        for (int call = next++; call < sale_calls; call = next++) {
          results[static_cast<std::size_t>(call)] =
              issuer.issue(coupon, "buyer-" + std::to_string(call));
        }
      });
    }
    for (auto& caller : callers) {
      caller.join();
    }
    int first_sold_out = sale_calls;
    std::size_t transfers = 0;
    for (int call = 0; call < sale_calls; ++call) {
      const auto& result = results[static_cast<std::size_t>(call)];
      if (result.status == flashsale::IssueStatus::SoldOut && call < first_sold_out) {
        first_sold_out = call;
      }
      transfers += result.transfers;
    }
    int late = 0;
    for (int call = first_sold_out; call < sale_calls; ++call) {
      late += results[static_cast<std::size_t>(call)].status == flashsale::IssueStatus::Issued;
    }
    std::int64_t moved = 0;
    const auto stats = issuer.stats(coupon);
    for (const auto& shard : stats->shards) {
      moved += shard.moved_in;
    }
    std::printf("%-3zu %12d %16d %12zu %12lld%s\n", shards, late, first_sold_out, transfers,
                static_cast<long long>(moved),
                stats->issued == sale_units ? "" : " (issued != units!)");
  }
  return 0;
}
