// HoldReaper scopes added and removed while it runs, against a real
// redis-server.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_server.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::HoldReaper;
using flashsale::ReserveStatus;
using flashsale::StockReserver;
using flashsale::testing::RedisServer;
namespace stock_test = flashsale::testing::stock;

TEST_CASE(
    "a hold reaper started with no scopes sweeps scopes added at run time and stops "
    "sweeping removed ones",
    "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::StockReserverOptions no_reclaim;
  no_reclaim.reclaim_per_reserve = 0;  // only the reaper gives stock back here
  StockReserver reserver(*client, no_reclaim);
  reserver.load("early", {{"red", 10}});
  reserver.load("late", {{"red", 10}});
  reserver.load("gone", {{"red", 10}});

  flashsale::HoldReaperOptions options;
  options.interval = 10ms;
  HoldReaper reaper(reserver, {}, options);
  CHECK(reaper.scopes().empty());
  CHECK(reaper.add_scope("early"));
  CHECK_FALSE(reaper.add_scope("early"));
  CHECK(reaper.add_scope("gone"));
  CHECK(reaper.remove_scope("gone"));
  CHECK_FALSE(reaper.remove_scope("gone"));
  CHECK_FALSE(reaper.remove_scope("never"));
  CHECK_THROWS_AS(reaper.add_scope("has space"), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reaper.add_scope(""), flashsale::InvalidArgument);
  CHECK(reaper.scopes() == std::vector<std::string>{"early"});

  const auto available = [&](const std::string& scope) {
    return stock_test::figures_of(reserver.snapshot(scope), "red").available;
  };
  for (const std::string scope : {"early", "late", "gone"}) {
    REQUIRE(reserver.reserve(scope, "h-" + scope, {{"red", 4}}, 30ms).status ==
            ReserveStatus::Reserved);
  }
  CHECK(stock_test::eventually([&] { return available("early") == 10; }));
  std::this_thread::sleep_for(100ms);
  CHECK(available("late") == 6);  // not swept: not added yet
  CHECK(reaper.add_scope("late"));
  CHECK(stock_test::eventually([&] { return available("late") == 10; }));
  CHECK(available("gone") == 6);  // removed before it expired: never swept
  reaper.stop();
  CHECK(reaper.reclaimed() == 2);
  CHECK(reaper.failures() == 0);
}
