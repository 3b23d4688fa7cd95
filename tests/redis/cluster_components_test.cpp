// The construction-time CROSSSLOT check of every component, and each
// component running one operation on a real 3-master cluster with the key
// layouts it accepts.
#include <chrono>
#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/script.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "lua/test_scripts.hpp"
#include "redis_cluster.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using flashsale::ConfigurationError;
using flashsale::InvalidArgument;
using flashsale::testing::RedisCluster;
using flashsale::testing::RedisServer;

namespace {

flashsale::StreamConsumerOptions consumer_options(std::vector<std::string> streams) {
  flashsale::StreamConsumerOptions options;
  options.streams = std::move(streams);
  options.group = "group";
  options.consumer = "consumer";
  options.block_timeout = 100ms;
  return options;
}

std::chrono::system_clock::time_point server_now(flashsale::Client& client) {
  const auto& script = flashsale::testing::scripts::server_time_ms;
  return std::chrono::system_clock::time_point(
      std::chrono::milliseconds(client.run_script({&script, {}, {}}).as_integer()));
}

}  // namespace

TEST_CASE(
    "StreamConsumer refuses, before sending anything, a stream whose dead-letter stream "
    "hashes to another slot",
    "[cluster][stream]") {
  RedisServer server;
  auto client = server.make_client(1);
  // "orders" has no hash tag, so "orders:dead" hashes whole, elsewhere; an
  // empty tag "{}" does not count as a tag either.
  REQUIRE(flashsale::hash_slot("orders") != flashsale::hash_slot("orders:dead"));
  REQUIRE(flashsale::hash_slot("{}orders") != flashsale::hash_slot("{}orders:dead"));

  const auto before = server.commands_processed();
  CHECK_THROWS_AS(flashsale::StreamConsumer(*client, consumer_options({"orders"})),
                  ConfigurationError);
  CHECK_THROWS_AS(flashsale::StreamConsumer(*client, consumer_options({"{}orders"})),
                  ConfigurationError);
  // One bad stream among good ones is enough to refuse the whole consumer.
  CHECK_THROWS_AS(flashsale::StreamConsumer(*client, consumer_options({"fs:{a}:events", "orders"})),
                  ConfigurationError);
  CHECK(server.commands_processed() == before + 1);

  // With a hash tag the dead-letter stream keeps the stream's slot.
  CHECK_NOTHROW(flashsale::StreamConsumer(*client, consumer_options({"{orders}"})));
  CHECK_NOTHROW(
      flashsale::StreamConsumer(*client, consumer_options({"fs:{a}:events", "fs:{b}:events"})));
}

TEST_CASE(
    "FirstComeCouponIssuer: its keys cannot span slots (validated prefix and id), and it "
    "runs on the cluster with a custom prefix",
    "[cluster][coupon]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  flashsale::FirstComeCouponIssuerOptions braced;
  braced.key_prefix = "shop{eu}";
  CHECK_THROWS_AS(flashsale::FirstComeCouponIssuer(*client, braced), InvalidArgument);

  flashsale::FirstComeCouponIssuerOptions options;
  options.key_prefix = "shop:eu";
  flashsale::FirstComeCouponIssuer issuer(*client, options);
  for (std::size_t node = 0; node < cluster.size(); ++node) {
    flashsale::CouponTemplate coupon;
    coupon.id = cluster.tag_on_node(node, "coupon");
    coupon.total = 1;
    coupon.opens_at = server_now(*client) - 1h;
    coupon.closes_at = coupon.opens_at + 2h;
    REQUIRE(issuer.register_template(coupon).status == flashsale::RegisterStatus::Created);
    CHECK(issuer.issue(coupon.id, "alice").status == flashsale::IssueStatus::Issued);
    CHECK(issuer.issue(coupon.id, "bob").status == flashsale::IssueStatus::SoldOut);
  }
}

TEST_CASE(
    "StockReserver: its keys cannot span slots (validated prefix and scope), and it runs on "
    "the cluster with a custom prefix",
    "[cluster][stock]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  flashsale::StockReserverOptions braced;
  braced.key_prefix = "shop{eu}";
  CHECK_THROWS_AS(flashsale::StockReserver(*client, braced), InvalidArgument);

  flashsale::StockReserverOptions options;
  options.key_prefix = "shop:eu";
  flashsale::StockReserver reserver(*client, options);
  for (std::size_t node = 0; node < cluster.size(); ++node) {
    const std::string scope = cluster.tag_on_node(node, "deal");
    REQUIRE(reserver.load(scope, {{"sku-a", 2}, {"sku-b", 1}}).status ==
            flashsale::LoadStatus::Loaded);
    CHECK(reserver.reserve(scope, "hold-1", {{"sku-a", 1}, {"sku-b", 1}}, 1min).status ==
          flashsale::ReserveStatus::Reserved);
    CHECK(reserver.confirm(scope, "hold-1").status == flashsale::ConfirmStatus::Confirmed);
    const auto snapshot = reserver.snapshot(scope);
    REQUIRE(snapshot.skus.size() == 2);
    CHECK(snapshot.skus[0].available == 1);
    CHECK(snapshot.skus[1].confirmed == 1);
  }
}

TEST_CASE(
    "SlidingWindowRanking: its keys cannot span slots (validated prefix, name and metrics), "
    "and it runs on the cluster with a custom prefix",
    "[cluster][ranking]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  flashsale::SlidingWindowRankingOptions braced;
  braced.name = "sales";
  braced.metrics = {{"views", 1.0}};
  braced.key_prefix = "shop{eu}";
  CHECK_THROWS_AS(flashsale::SlidingWindowRanking(*client, braced), InvalidArgument);
  braced.key_prefix = "shop";
  braced.metrics = {{"{views}", 1.0}};
  CHECK_THROWS_AS(flashsale::SlidingWindowRanking(*client, braced), InvalidArgument);

  for (std::size_t node = 0; node < cluster.size(); ++node) {
    flashsale::SlidingWindowRankingOptions options;
    options.name = cluster.tag_on_node(node, "ranking");
    options.key_prefix = "shop:eu";
    options.window = 1h;
    options.bucket = 1min;
    options.metrics = {{"views", 1.0}, {"orders", 10.0}};
    flashsale::SlidingWindowRanking ranking(*client, options);
    ranking.record("shoes", "views", 3);
    ranking.record("shoes", "orders", 1);
    ranking.record("hats", "views", 5);
    ranking.refresh();
    const auto top = ranking.top(2);
    REQUIRE(top.size() == 2);
    CHECK(top[0].member == "shoes");
    CHECK(top[0].score == 13.0);
  }
}

TEST_CASE(
    "RedisStreamPublisher: its keys cannot span slots (validated prefix and stream names), "
    "and it publishes on the cluster with a custom prefix",
    "[cluster][outbox]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  flashsale::RedisStreamPublisherOptions braced;
  braced.key_prefix = "shop{eu}";
  CHECK_THROWS_AS(flashsale::RedisStreamPublisher(*client, braced), InvalidArgument);
  braced.key_prefix = "shop";
  braced.fixed_stream = "{all}";
  CHECK_THROWS_AS(flashsale::RedisStreamPublisher(*client, braced), InvalidArgument);

  flashsale::RedisStreamPublisherOptions options;
  options.key_prefix = "shop:eu";
  flashsale::RedisStreamPublisher publisher(*client, options);
  for (std::size_t node = 0; node < cluster.size(); ++node) {
    flashsale::OutboxRecord record;
    record.id = static_cast<std::int64_t>(node + 1);
    record.aggregate_type = cluster.tag_on_node(node, "order");
    record.aggregate_id = "42";
    record.event_type = "placed";
    record.payload = "{}";
    record.created_at = std::chrono::system_clock::now();
    const auto first = publisher.publish_entry(record);
    CHECK(first.added);
    CHECK(first.stream == publisher.stream_for(record.aggregate_type));
    const auto again = publisher.publish_entry(record);
    CHECK_FALSE(again.added);
    CHECK(again.entry_id == first.entry_id);
  }
}
