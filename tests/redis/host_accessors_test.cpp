// What a host reads back without rebuilding key names or keeping its own
// copy: the events streams of coupons and stock scopes, and a hold's items,
// state and deadline.
#include <chrono>
#include <string>
#include <thread>

#include "catch.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::HoldState;
using flashsale::ReserveStatus;
using flashsale::StockReserver;
using flashsale::testing::RedisServer;

TEST_CASE("the events stream accessors name the streams the events land in", "[accessors]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::FirstComeCouponIssuer issuer(*client);
  const auto now = std::chrono::system_clock::now();
  issuer.register_template({"summer", 10, now - 1h, now + 1h, 1});
  REQUIRE(issuer.issue("summer", "u1").status == flashsale::IssueStatus::Issued);
  const auto coupon_stream = issuer.events_stream("summer");
  CHECK(coupon_stream == "fs:coupon:{summer}:events");
  CHECK(flashsale::testing::read_stream(*client, coupon_stream).size() == 1);

  StockReserver reserver(*client);
  reserver.load("deal", {{"red", 5}});
  const auto stock_stream = reserver.events_stream("deal");
  CHECK(stock_stream == "fs:stock:{deal}:events");
  CHECK(!flashsale::testing::read_stream(*client, stock_stream).empty());

  const auto before = server.commands_processed();
  CHECK_THROWS_AS(issuer.events_stream("has space"), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.events_stream("a{b}"), flashsale::InvalidArgument);
  CHECK(server.commands_processed() == before + 1);
}

TEST_CASE("a hold's items, state and deadline can be read back at every stage", "[accessors]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::StockReserverOptions no_reclaim;
  no_reclaim.reclaim_per_reserve = 0;
  StockReserver reserver(*client, no_reclaim);
  reserver.load("deal", {{"red", 10}, {"blue", 10}});

  CHECK_FALSE(reserver.hold("deal", "never").has_value());
  const auto reserved = reserver.reserve("deal", "h1", {{"red", 2}, {"blue", 1}}, 10min);
  REQUIRE(reserved.status == ReserveStatus::Reserved);
  auto view = reserver.hold("deal", "h1");
  REQUIRE(view.has_value());
  CHECK(view->state == HoldState::Active);
  REQUIRE(view->items.size() == 2);
  CHECK(view->items[0].sku == "red");
  CHECK(view->items[0].quantity == 2);
  CHECK(view->items[1].sku == "blue");
  CHECK(view->items[1].quantity == 1);
  CHECK(view->expires_at == *reserved.expires_at);

  REQUIRE(reserver.confirm("deal", "h1").status == flashsale::ConfirmStatus::Confirmed);
  view = reserver.hold("deal", "h1");
  REQUIRE(view.has_value());
  CHECK(view->state == HoldState::Confirmed);
  CHECK(view->items.size() == 2);
  CHECK(view->expires_at == *reserved.expires_at);

  REQUIRE(reserver.reserve("deal", "h2", {{"red", 1}}, 10min).status == ReserveStatus::Reserved);
  reserver.release("deal", "h2");
  view = reserver.hold("deal", "h2");
  REQUIRE(view.has_value());
  CHECK(view->state == HoldState::Released);
  CHECK(view->items.at(0).quantity == 1);

  REQUIRE(reserver.reserve("deal", "h3", {{"blue", 3}}, 20ms).status == ReserveStatus::Reserved);
  std::this_thread::sleep_for(50ms);
  CHECK(reserver.hold("deal", "h3")->state == HoldState::Active);  // past due, not yet swept
  reserver.reclaim_expired("deal", 10);
  view = reserver.hold("deal", "h3");
  REQUIRE(view.has_value());
  CHECK(view->state == HoldState::Expired);
  CHECK(view->items.at(0).sku == "blue");

  // After a restore only the confirmed holds it was given are known, their
  // deadline lost (the epoch).
  reserver.restore("deal", {{"red", 10}, {"blue", 10}}, {{"h1", {{"red", 2}, {"blue", 1}}}});
  view = reserver.hold("deal", "h1");
  REQUIRE(view.has_value());
  CHECK(view->state == HoldState::Confirmed);
  CHECK(view->items.size() == 2);
  CHECK(view->expires_at == std::chrono::system_clock::time_point{});
  CHECK_FALSE(reserver.hold("deal", "h2").has_value());

  const auto before = server.commands_processed();
  CHECK_THROWS_AS(reserver.hold("deal", ""), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.hold("bad scope", "h1"), flashsale::InvalidArgument);
  CHECK(server.commands_processed() == before + 1);
}
