// The restore path on a real 3-master cluster: every restore script keeps to
// the one slot of its coupon or scope, on whichever node that slot lives.
#include <chrono>
#include <cstdint>
#include <string>

#include "catch.hpp"
#include "coupon_test_support.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_cluster.hpp"

using namespace std::chrono_literals;
using flashsale::testing::RedisCluster;
using flashsale::testing::coupon::open_coupon;

TEST_CASE("coupons and stock scopes restore on every node of a cluster under a new epoch",
          "[cluster][restore]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  flashsale::FirstComeCouponIssuer issuer(*client);
  flashsale::StockReserver reserver(*client);
  for (std::size_t node = 0; node < cluster.size(); ++node) {
    const auto coupon = open_coupon(*client, cluster.tag_on_node(node, "coupon"), 3);
    const std::int64_t first = issuer.register_template(coupon).epoch;
    REQUIRE(issuer.issue(coupon.id, "alice").status == flashsale::IssueStatus::Issued);
    const auto restored = issuer.restore(coupon, {{"alice", 1}}, first);
    CHECK(restored.epoch > first);
    CHECK(restored.remaining == 2);
    const auto again = issuer.issue(coupon.id, "alice");
    CHECK(again.status == flashsale::IssueStatus::AlreadyIssued);
    CHECK(again.epoch == restored.epoch);
    CHECK(issuer.issue(coupon.id, "bob").sequence == 2);

    const std::string scope = cluster.tag_on_node(node, "scope");
    reserver.load(scope, {{"red", 5}});
    const std::int64_t loaded = reserver.snapshot(scope).epoch;
    const auto snapshot = reserver.restore(scope, {{"red", 5}}, {{"h1", {{"red", 2}}}}, loaded);
    CHECK(snapshot.epoch > loaded);
    CHECK(snapshot.skus.at(0).confirmed == 2);
    CHECK(snapshot.skus.at(0).available == 3);
    CHECK(reserver.confirm(scope, "h1").status == flashsale::ConfirmStatus::AlreadyConfirmed);
  }
}
