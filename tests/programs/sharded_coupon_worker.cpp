// A ShardedCouponIssuer in its own process, for tests that SIGKILL it, on a
// Redis Cluster (3 shards, transfer chunk 100).
//
//   sharded_coupon_worker <seed host:port> <coupon> issue <first-user> <users> <threads>
//     issues the coupon once to each of users "user-<first>" ... on <threads>
//     threads, then exits 0 (tests kill it long before);
//   sharded_coupon_worker <seed host:port> <coupon> take <from> <to> <marker-file>
//     runs the donor half of a transfer only (take_stock of 50 units), then
//     creates <marker-file> and waits to be killed: a process dead between
//     the donor script and the home script.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "flashsale/cluster_client.hpp"
#include "flashsale/sharded_coupon_issuer.hpp"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s seed coupon issue|take a b c\n", argv[0]);
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
  flashsale::ClusterClientOptions client_options;
  client_options.seeds = {argv[1]};
  client_options.pool.size = 16;
  client_options.connection.command_timeout = std::chrono::seconds(10);
  client_options.retry_budget = std::chrono::seconds(20);
  flashsale::ClusterClient client(client_options);
  flashsale::ShardedCouponIssuerOptions options;
  options.shards = 3;
  options.transfer_chunk = 100;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::ShardedCouponIssuer issuer(client, options);
  const std::string coupon = argv[2];
  const std::string mode = argv[3];

  if (mode == "take") {
    const auto pending = issuer.take_stock(coupon, static_cast<std::size_t>(std::atoi(argv[4])),
                                           static_cast<std::size_t>(std::atoi(argv[5])), 50);
    std::ofstream(argv[6]) << pending.units << "\n";
    for (;;) {
      ::pause();
    }
  }
  const int first = std::atoi(argv[4]);
  const int users = std::atoi(argv[5]);
  const int threads = std::atoi(argv[6]);
  std::atomic<int> next{0};
  std::vector<std::thread> callers;
  for (int thread = 0; thread < threads; ++thread) {
    callers.emplace_back([&] {
      for (int index = next++; index < users; index = next++) {
        try {
          issuer.issue(coupon, "user-" + std::to_string(first + index));
        } catch (const std::exception& error) {
          std::fprintf(stderr, "issue failed: %s\n", error.what());
        }
      }
    });
  }
  for (auto& caller : callers) {
    caller.join();
  }
  return 0;
}
