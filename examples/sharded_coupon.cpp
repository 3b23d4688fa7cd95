// One hot coupon over the masters of a Redis Cluster with ShardedCouponIssuer:
// register 10,000 units split over 3 shards, issue one to a user, finish any
// transfer a crashed process left, print the summed stats.
//
//   sharded_coupon [host:port of a cluster node]     (default 127.0.0.1:7000)
#include <chrono>
#include <iostream>
#include <string>

#include "flashsale/cluster_client.hpp"
#include "flashsale/error.hpp"
#include "flashsale/sharded_coupon_issuer.hpp"

int main(int argc, char** argv) {
  try {
    flashsale::ClusterClientOptions cluster;
    cluster.seeds = {argc > 1 ? argv[1] : "127.0.0.1:7000"};
    flashsale::ClusterClient client(cluster);

    flashsale::ShardedCouponIssuerOptions options;
    options.shards = 3;            // one sub-coupon per master of a 3-master cluster
    options.transfer_chunk = 100;  // units an empty shard takes from another at once
    flashsale::ShardedCouponIssuer issuer(client, options);

    const auto now = std::chrono::system_clock::now();
    flashsale::CouponTemplate coupon;
    coupon.id = "mega-deal";
    coupon.total = 10'000;
    coupon.opens_at = now - std::chrono::minutes(1);
    coupon.closes_at = now + std::chrono::hours(1);
    issuer.register_template(coupon);  // 3334 + 3333 + 3333 units

    // At startup (any process, any time): finish transfers a crash left.
    issuer.recover_transfers("mega-deal");

    const flashsale::ShardedIssueResult result = issuer.issue("mega-deal", "user-42");
    if (result.status == flashsale::IssueStatus::Issued ||
        result.status == flashsale::IssueStatus::AlreadyIssued) {
      std::cout << "user-42 holds (shard " << result.shard << ", sequence " << result.sequence
                << ")\n";
    } else {
      std::cout << "not issued (status " << static_cast<int>(result.status) << ")\n";
    }

    if (const auto stats = issuer.stats("mega-deal")) {
      std::cout << "total " << stats->total << ", issued " << stats->issued << ", remaining "
                << stats->remaining << ", in flight " << stats->in_flight << "\n";
    }
    // The host persists the events of every shard's stream.
    for (const std::string& stream : issuer.events_streams("mega-deal")) {
      std::cout << "events: " << stream << "\n";
    }
    return 0;
  } catch (const flashsale::Error& error) {
    std::cerr << "sharded_coupon: " << error.what() << "\n";
    return 1;
  }
}
