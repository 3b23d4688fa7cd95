// StockReserver and HoldReaper against a real redis-server: all-or-nothing
// holds, expiry by the server clock, idempotent retries, events, faults and
// bad input.
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/log.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_server.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::ConfirmStatus;
using flashsale::ExtendStatus;
using flashsale::HoldReaper;
using flashsale::LoadMode;
using flashsale::LoadStatus;
using flashsale::ReleaseStatus;
using flashsale::ReserveStatus;
using flashsale::SaleState;
using flashsale::StockItem;
using flashsale::StockReserver;
using flashsale::StockSnapshot;
using flashsale::testing::RedisServer;
namespace stock_test = flashsale::testing::stock;

namespace {

const std::string kScope = "deal";
const std::string kEvents = "fs:stock:{deal}:events";

}  // namespace

TEST_CASE("load opens a scope with everything available and refuses a second load unless replacing",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  CHECK(reserver.snapshot(kScope).state == SaleState::NotLoaded);

  CHECK(reserver.load(kScope, {{"red", 10}, {"blue", 5}}).status == LoadStatus::Loaded);
  StockSnapshot snapshot = reserver.snapshot(kScope);
  CHECK(snapshot.state == SaleState::Open);
  CHECK(snapshot.active_holds == 0);
  REQUIRE(snapshot.skus.size() == 2);
  CHECK(snapshot.skus[0].sku == "blue");
  CHECK(snapshot.skus[0].initial == 5);
  CHECK(snapshot.skus[0].available == 5);
  CHECK(snapshot.skus[1].sku == "red");
  CHECK(snapshot.skus[1].available == 10);

  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 3}}, 60s).status == ReserveStatus::Reserved);
  CHECK(reserver.load(kScope, {{"red", 99}}).status == LoadStatus::AlreadyLoaded);
  CHECK(stock_test::figures_of(reserver.snapshot(kScope), "red").held == 3);

  CHECK(reserver.load(kScope, {{"red", 7}}, LoadMode::Replace).status == LoadStatus::Loaded);
  snapshot = reserver.snapshot(kScope);
  REQUIRE(snapshot.skus.size() == 1);
  CHECK(snapshot.skus[0].initial == 7);
  CHECK(snapshot.skus[0].available == 7);
  CHECK(snapshot.skus[0].held == 0);
  CHECK(snapshot.active_holds == 0);
  CHECK(reserver.confirm(kScope, "h1").status == ConfirmStatus::UnknownHold);
}

TEST_CASE("a reserve holds every sku of the cart or none of them", "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}, {"blue", 2}});
  const StockSnapshot before = reserver.snapshot(kScope);
  const long long events_before = stock_test::stream_length(*client, kEvents);

  const auto short_cart = reserver.reserve(kScope, "h1", {{"red", 4}, {"blue", 3}}, 60s);
  CHECK(short_cart.status == ReserveStatus::InsufficientStock);
  CHECK(short_cart.short_sku == std::optional<std::string>("blue"));
  CHECK_FALSE(short_cart.expires_at.has_value());
  CHECK(stock_test::same_figures(reserver.snapshot(kScope), before));
  CHECK(stock_test::stream_length(*client, kEvents) == events_before);

  const long long now_ms = stock_test::server_time_ms(*client);
  const auto reserved = reserver.reserve(kScope, "h2", {{"red", 4}, {"blue", 2}}, 60s);
  CHECK(reserved.status == ReserveStatus::Reserved);
  REQUIRE(reserved.expires_at.has_value());
  const long long expires_ms = flashsale::detail::to_epoch_ms(*reserved.expires_at);
  CHECK(expires_ms >= now_ms + 60000);
  CHECK(expires_ms < now_ms + 120000);
  const StockSnapshot after = reserver.snapshot(kScope);
  CHECK(stock_test::figures_of(after, "red").available == 6);
  CHECK(stock_test::figures_of(after, "red").held == 4);
  CHECK(stock_test::figures_of(after, "blue").available == 0);
  CHECK(stock_test::figures_of(after, "blue").held == 2);
  CHECK(after.active_holds == 1);

  const auto events = stock_test::read_events(*client, kEvents);
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().type == "reserved");
  CHECK(events.back().hold_id == "h2");
  CHECK(events.back().items == "red 4 blue 2");
}

TEST_CASE("reserve reports UnknownSku for what is not loaded and SaleClosed after end_sale",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);

  const auto not_loaded = reserver.reserve(kScope, "h0", {{"red", 1}}, 60s);
  CHECK(not_loaded.status == ReserveStatus::UnknownSku);
  CHECK(not_loaded.short_sku == std::optional<std::string>("red"));

  reserver.load(kScope, {{"red", 10}});
  const auto unknown = reserver.reserve(kScope, "h1", {{"red", 1}, {"green", 1}}, 60s);
  CHECK(unknown.status == ReserveStatus::UnknownSku);
  CHECK(unknown.short_sku == std::optional<std::string>("green"));
  CHECK(stock_test::figures_of(reserver.snapshot(kScope), "red").available == 10);

  REQUIRE(reserver.reserve(kScope, "h2", {{"red", 3}}, 60s).status == ReserveStatus::Reserved);
  REQUIRE(reserver.reserve(kScope, "h3", {{"red", 2}}, 60s).status == ReserveStatus::Reserved);
  REQUIRE(reserver.confirm(kScope, "h2").status == ConfirmStatus::Confirmed);

  const StockSnapshot closed = reserver.end_sale(kScope);
  CHECK(closed.state == SaleState::Closed);
  const auto red = stock_test::figures_of(closed, "red");
  CHECK(red.initial == 10);
  CHECK(red.available == 5);
  CHECK(red.held == 2);
  CHECK(red.confirmed == 3);
  CHECK(reserver.reserve(kScope, "h4", {{"red", 1}}, 60s).status == ReserveStatus::SaleClosed);
  CHECK(reserver.end_sale(kScope).state == SaleState::Closed);

  // Holds outstanding at the close can still finish.
  CHECK(reserver.confirm(kScope, "h3").status == ConfirmStatus::Confirmed);
  const auto final_red = stock_test::figures_of(reserver.snapshot(kScope), "red");
  CHECK(final_red.held == 0);
  CHECK(final_red.confirmed == 5);
  CHECK(final_red.available == 5);
}

TEST_CASE("confirm sells a hold for good, release gives its stock back, each exactly once",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}, {"blue", 10}});
  REQUIRE(reserver.reserve(kScope, "buy", {{"red", 2}, {"blue", 1}}, 60s).status ==
          ReserveStatus::Reserved);
  REQUIRE(reserver.reserve(kScope, "drop", {{"red", 3}}, 60s).status == ReserveStatus::Reserved);

  CHECK(reserver.confirm(kScope, "buy").status == ConfirmStatus::Confirmed);
  CHECK(reserver.release(kScope, "drop").status == ReleaseStatus::Released);
  StockSnapshot snapshot = reserver.snapshot(kScope);
  CHECK(stock_test::figures_of(snapshot, "red").available == 8);
  CHECK(stock_test::figures_of(snapshot, "red").confirmed == 2);
  CHECK(stock_test::figures_of(snapshot, "blue").confirmed == 1);
  CHECK(stock_test::figures_of(snapshot, "red").held == 0);

  CHECK(reserver.release(kScope, "buy").status == ReleaseStatus::NotReleasable);
  CHECK(reserver.confirm(kScope, "drop").status == ConfirmStatus::Released);
  CHECK(reserver.extend(kScope, "buy", 60s).status == ExtendStatus::NotExtendable);
  CHECK(reserver.extend(kScope, "drop", 60s).status == ExtendStatus::NotExtendable);
  CHECK(reserver.confirm(kScope, "nobody").status == ConfirmStatus::UnknownHold);
  CHECK(reserver.release(kScope, "nobody").status == ReleaseStatus::UnknownHold);
  CHECK(reserver.extend(kScope, "nobody", 60s).status == ExtendStatus::UnknownHold);
  CHECK(stock_test::same_figures(reserver.snapshot(kScope), snapshot));

  const auto events = stock_test::read_events(*client, kEvents);
  std::map<std::string, int> counts;
  for (const auto& event : events) {
    ++counts[event.type + ":" + event.hold_id];
  }
  CHECK(counts["confirmed:buy"] == 1);
  CHECK(counts["released:drop"] == 1);
}

TEST_CASE("retried reserve, confirm and release with the same hold id change nothing", "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}});

  const auto first = reserver.reserve(kScope, "h1", {{"red", 4}}, 60s);
  REQUIRE(first.status == ReserveStatus::Reserved);
  const StockSnapshot reserved = reserver.snapshot(kScope);
  const long long events_after_reserve = stock_test::stream_length(*client, kEvents);
  for (int retry = 0; retry < 3; ++retry) {
    // A retry, even with another cart, neither reserves again nor moves the deadline.
    const auto again = reserver.reserve(kScope, "h1", {{"red", 1}}, 120s);
    CHECK(again.status == ReserveStatus::AlreadyReserved);
    CHECK(again.expires_at == first.expires_at);
  }
  CHECK(stock_test::same_figures(reserver.snapshot(kScope), reserved));
  CHECK(stock_test::stream_length(*client, kEvents) == events_after_reserve);

  REQUIRE(reserver.confirm(kScope, "h1").status == ConfirmStatus::Confirmed);
  const StockSnapshot confirmed = reserver.snapshot(kScope);
  const long long events_after_confirm = stock_test::stream_length(*client, kEvents);
  for (int retry = 0; retry < 3; ++retry) {
    CHECK(reserver.confirm(kScope, "h1").status == ConfirmStatus::AlreadyConfirmed);
    CHECK(reserver.reserve(kScope, "h1", {{"red", 4}}, 60s).expires_at == first.expires_at);
  }
  CHECK(stock_test::same_figures(reserver.snapshot(kScope), confirmed));
  CHECK(stock_test::stream_length(*client, kEvents) == events_after_confirm);

  REQUIRE(reserver.reserve(kScope, "h2", {{"red", 5}}, 60s).status == ReserveStatus::Reserved);
  REQUIRE(reserver.release(kScope, "h2").status == ReleaseStatus::Released);
  const StockSnapshot released = reserver.snapshot(kScope);
  const long long events_after_release = stock_test::stream_length(*client, kEvents);
  for (int retry = 0; retry < 3; ++retry) {
    CHECK(reserver.release(kScope, "h2").status == ReleaseStatus::AlreadyReleased);
    CHECK(reserver.reserve(kScope, "h2", {{"red", 5}}, 60s).status ==
          ReserveStatus::AlreadyReserved);
  }
  CHECK(stock_test::same_figures(reserver.snapshot(kScope), released));
  CHECK(stock_test::figures_of(released, "red").available == 6);
  CHECK(stock_test::stream_length(*client, kEvents) == events_after_release);
}

TEST_CASE("extend moves an active hold's deadline to now + ttl and is too late once it expired",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}});
  const auto reserved = reserver.reserve(kScope, "h1", {{"red", 1}}, 1s);
  REQUIRE(reserved.status == ReserveStatus::Reserved);

  const auto extended = reserver.extend(kScope, "h1", 60s);
  CHECK(extended.status == ExtendStatus::Extended);
  REQUIRE(extended.expires_at.has_value());
  CHECK(*extended.expires_at >= *reserved.expires_at + 59s);
  stock_test::wait_for_server_time_past(*client, *reserved.expires_at);
  CHECK(reserver.confirm(kScope, "h1").status == ConfirmStatus::Confirmed);
  CHECK(reserver.reserve(kScope, "h1", {{"red", 1}}, 1s).expires_at == extended.expires_at);

  const auto short_hold = reserver.reserve(kScope, "h2", {{"red", 1}}, 50ms);
  REQUIRE(short_hold.status == ReserveStatus::Reserved);
  stock_test::wait_for_server_time_past(*client, *short_hold.expires_at);
  CHECK(reserver.extend(kScope, "h2", 60s).status == ExtendStatus::Expired);
  CHECK(reserver.extend(kScope, "h2", 60s).status == ExtendStatus::Expired);
  CHECK(stock_test::figures_of(reserver.snapshot(kScope), "red").available == 9);
  CHECK(stock_test::count_events(*client, kEvents, "hold_expired", "h2") == 1);
}

TEST_CASE("an expired hold's stock comes back with the next reserve while no reaper runs",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 5}});
  const auto abandoned = reserver.reserve(kScope, "abandoned", {{"red", 5}}, 100ms);
  REQUIRE(abandoned.status == ReserveStatus::Reserved);
  CHECK(reserver.reserve(kScope, "early", {{"red", 1}}, 60s).status ==
        ReserveStatus::InsufficientStock);

  stock_test::wait_for_server_time_past(*client, *abandoned.expires_at);
  // Nothing swept: the hold is still counted as held until someone reclaims it.
  CHECK(stock_test::figures_of(reserver.snapshot(kScope), "red").held == 5);
  CHECK(reserver.reserve(kScope, "late", {{"red", 5}}, 60s).status == ReserveStatus::Reserved);
  const auto red = stock_test::figures_of(reserver.snapshot(kScope), "red");
  CHECK(red.held == 5);
  CHECK(red.available == 0);
  const auto events = stock_test::read_events(*client, kEvents);
  int expired = 0;
  for (const auto& event : events) {
    if (event.type == "hold_expired") {
      ++expired;
      CHECK(event.hold_id == "abandoned");
      CHECK(event.items == "red 5");
    }
  }
  CHECK(expired == 1);
  CHECK(reserver.release(kScope, "abandoned").status == ReleaseStatus::Expired);
}

TEST_CASE("reserve and reclaim_expired give back at most their bounded number of holds per call",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::StockReserverOptions options;
  options.reclaim_per_reserve = 4;
  options.max_reclaim_per_call = 10;
  StockReserver reserver(*client, options);
  options.reclaim_per_reserve = 0;  // so setting up does not reclaim already
  StockReserver setup(*client, options);
  reserver.load(kScope, {{"red", 100}});
  flashsale::ReserveResult last;
  for (int hold = 0; hold < 30; ++hold) {
    last = setup.reserve(kScope, "h" + std::to_string(hold), {{"red", 1}}, 20ms);
    REQUIRE(last.status == ReserveStatus::Reserved);
  }
  stock_test::wait_for_server_time_past(*client, *last.expires_at);

  REQUIRE(reserver.reserve(kScope, "fresh", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
  CHECK(reserver.snapshot(kScope).active_holds == 30 - 4 + 1);
  const auto first = reserver.reclaim_expired(kScope, 10);
  CHECK(first.reclaimed == 10);
  CHECK(first.more_due);
  CHECK(reserver.reclaim_expired(kScope, 10).reclaimed == 10);
  const auto last_sweep = reserver.reclaim_expired(kScope, 10);
  CHECK(last_sweep.reclaimed == 6);
  CHECK_FALSE(last_sweep.more_due);
  CHECK(reserver.reclaim_expired(kScope, 10).reclaimed == 0);
  const auto snapshot = reserver.snapshot(kScope);
  CHECK(snapshot.active_holds == 1);
  CHECK(stock_test::figures_of(snapshot, "red").available == 99);
  CHECK(stock_test::count_events(*client, kEvents, "hold_expired", "") == 30);
}

TEST_CASE("hold ids may hold any bytes, spaces, braces and NUL included", "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}});
  const std::string odd_id("order 7\n{x}\0\xff tail", 18);
  const std::string other_id("order 7\n{x}\0\xfe tail", 18);
  CHECK(reserver.reserve(kScope, odd_id, {{"red", 2}}, 60s).status == ReserveStatus::Reserved);
  CHECK(reserver.reserve(kScope, other_id, {{"red", 3}}, 60s).status == ReserveStatus::Reserved);
  CHECK(reserver.reserve(kScope, odd_id, {{"red", 2}}, 60s).status ==
        ReserveStatus::AlreadyReserved);
  CHECK(reserver.confirm(kScope, odd_id).status == ConfirmStatus::Confirmed);
  CHECK(reserver.release(kScope, other_id).status == ReleaseStatus::Released);
  const auto red = stock_test::figures_of(reserver.snapshot(kScope), "red");
  CHECK(red.confirmed == 2);
  CHECK(red.available == 8);
  CHECK(stock_test::count_events(*client, kEvents, "confirmed", odd_id) == 1);
  CHECK(stock_test::count_events(*client, kEvents, "released", other_id) == 1);
}

TEST_CASE("a reserve retried after a timeout holds the stock once", "[stock]") {
  RedisServer server;
  auto options = server.connection_options();
  options.command_timeout = 100ms;
  flashsale::StandaloneClient client(options);
  StockReserver reserver(client);
  reserver.load(kScope, {{"red", 10}});

  // The server stalls: the call times out, and whether it ran is unknown.
  server.admin().execute({{"CLIENT", "PAUSE", "400", "ALL"}, {}, {}});
  CHECK_THROWS_AS(reserver.reserve(kScope, "h1", {{"red", 3}}, 60s), flashsale::TimeoutError);
  std::this_thread::sleep_for(450ms);
  const auto retried = reserver.reserve(kScope, "h1", {{"red", 3}}, 60s);
  CHECK((retried.status == ReserveStatus::Reserved ||
         retried.status == ReserveStatus::AlreadyReserved));
  const auto again = reserver.reserve(kScope, "h1", {{"red", 3}}, 60s);
  CHECK(again.status == ReserveStatus::AlreadyReserved);
  CHECK(again.expires_at == retried.expires_at);
  const auto red = stock_test::figures_of(reserver.snapshot(kScope), "red");
  CHECK(red.held == 3);
  CHECK(red.available == 7);
  CHECK(stock_test::count_events(client, kEvents, "reserved", "h1") == 1);
}

TEST_CASE("a hold reaper gives expired stock back with no reserve happening and stops cleanly",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  flashsale::StockReserverOptions no_reclaim;
  no_reclaim.reclaim_per_reserve = 0;  // only the reaper gives stock back here
  StockReserver setup(*client, no_reclaim);
  reserver.load(kScope, {{"red", 100}});
  reserver.load("other", {{"red", 100}});
  for (int hold = 0; hold < 60; ++hold) {
    REQUIRE(setup.reserve(kScope, "h" + std::to_string(hold), {{"red", 1}}, 100ms).status ==
            ReserveStatus::Reserved);
  }
  for (int hold = 0; hold < 20; ++hold) {
    REQUIRE(setup.reserve("other", "h" + std::to_string(hold), {{"red", 5}}, 100ms).status ==
            ReserveStatus::Reserved);
  }
  const auto has_stock_back = [&](const std::string& scope) {
    const auto snapshot = reserver.snapshot(scope);
    return snapshot.active_holds == 0 && stock_test::figures_of(snapshot, "red").available == 100;
  };
  CHECK_FALSE(has_stock_back(kScope));

  flashsale::HoldReaperOptions options;
  options.interval = 20ms;
  options.batch_size = 7;  // several calls per sweep
  {
    HoldReaper reaper(reserver, {kScope, "other"}, options);
    CHECK(
        stock_test::eventually([&] { return has_stock_back(kScope) && has_stock_back("other"); }));
    reaper.stop();
    reaper.stop();
    CHECK(reaper.reclaimed() == 60 + 20);
    CHECK(reaper.failures() == 0);
  }
  CHECK(stock_test::count_events(*client, kEvents, "hold_expired", "") == 60);
  for (int hold = 0; hold < 60; ++hold) {
    CHECK(stock_test::count_events(*client, kEvents, "hold_expired", "h" + std::to_string(hold)) ==
          1);
  }
}

TEST_CASE("a hold reaper logs failed sweeps while the server is down and then sweeps again",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}});
  flashsale::HoldReaperOptions options;
  options.interval = 10ms;
  std::atomic<int> warnings{0};
  flashsale::set_log_sink([&](flashsale::LogLevel level, std::string_view) {
    warnings += level == flashsale::LogLevel::Warning ? 1 : 0;
  });
  struct RestoreLogSink {
    ~RestoreLogSink() { flashsale::set_log_sink({}); }
  } restore_log_sink;  // after the reaper has stopped, even when a check throws
  HoldReaper reaper(reserver, {kScope}, options);
  server.kill();
  CHECK(stock_test::eventually([&] { return reaper.failures() > 0; }));
  server.restart();
  reserver.load(kScope, {{"red", 10}});
  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 10}}, 50ms).status == ReserveStatus::Reserved);
  CHECK(stock_test::eventually(
      [&] { return stock_test::figures_of(reserver.snapshot(kScope), "red").available == 10; }));
  reaper.stop();
  CHECK(warnings >= static_cast<int>(reaper.failures()));
}

TEST_CASE("confirm after expiry reacquires when stock is left and reports Expired when not",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 5}, {"blue", 5}});

  const auto late = reserver.reserve(kScope, "late", {{"red", 2}, {"blue", 1}}, 50ms);
  REQUIRE(late.status == ReserveStatus::Reserved);
  stock_test::wait_for_server_time_past(*client, *late.expires_at);
  // No sweep has run: confirm itself notices the deadline passed.
  CHECK(reserver.confirm(kScope, "late").status == ConfirmStatus::Reacquired);
  CHECK(reserver.confirm(kScope, "late").status == ConfirmStatus::AlreadyConfirmed);
  StockSnapshot snapshot = reserver.snapshot(kScope);
  CHECK(stock_test::figures_of(snapshot, "red").confirmed == 2);
  CHECK(stock_test::figures_of(snapshot, "red").available == 3);
  CHECK(stock_test::figures_of(snapshot, "blue").confirmed == 1);
  // Confirmed late while still held: no hold_expired to undo.
  CHECK(stock_test::count_events(*client, kEvents, "hold_expired", "late") == 0);
  CHECK(stock_test::count_events(*client, kEvents, "confirmed", "late") == 1);

  const auto too_late = reserver.reserve(kScope, "too-late", {{"red", 2}, {"blue", 2}}, 50ms);
  REQUIRE(too_late.status == ReserveStatus::Reserved);
  stock_test::wait_for_server_time_past(*client, *too_late.expires_at);
  CHECK(reserver.reclaim_expired(kScope, 10).reclaimed == 1);
  // Someone else bought the blue ones meanwhile.
  REQUIRE(reserver.reserve(kScope, "rival", {{"blue", 3}}, 60s).status == ReserveStatus::Reserved);
  const StockSnapshot before = reserver.snapshot(kScope);
  const auto expired = reserver.confirm(kScope, "too-late");
  CHECK(expired.status == ConfirmStatus::Expired);
  CHECK(expired.short_sku == std::optional<std::string>("blue"));
  CHECK(reserver.confirm(kScope, "too-late").status == ConfirmStatus::Expired);
  CHECK(stock_test::same_figures(reserver.snapshot(kScope), before));
  CHECK(reserver.release(kScope, "too-late").status == ReleaseStatus::Expired);

  reserver.release(kScope, "rival");
  reserver.end_sale(kScope);
  // Stock is back, but a closed sale does not sell again.
  CHECK(reserver.confirm(kScope, "too-late").status == ConfirmStatus::Expired);
  CHECK(stock_test::same_figures(reserver.snapshot(kScope), reserver.end_sale(kScope)));
}

TEST_CASE("every hold_expired event is in the stream exactly once while sweeps race", "[stock]") {
  RedisServer server;
  auto client = server.make_client(12);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 1000000}});
  constexpr int kHolds = 3000;
  std::atomic<int> next_hold{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int thread = 0; thread < 4; ++thread) {
    threads.emplace_back([&] {
      for (int hold = next_hold++; hold < kHolds; hold = next_hold++) {
        reserver.reserve(kScope, "h" + std::to_string(hold), {{"red", 1 + hold % 3}}, 5ms);
        if (hold % 5 == 0) {
          reserver.release(kScope, "h" + std::to_string(hold / 2));
        }
      }
    });
  }
  for (int thread = 0; thread < 3; ++thread) {
    threads.emplace_back([&] {
      while (!done) {
        reserver.reclaim_expired(kScope, 20);
      }
    });
  }
  {
    flashsale::HoldReaperOptions options;
    options.interval = 1ms;
    options.batch_size = 10;
    HoldReaper reaper(reserver, {kScope}, options);
    for (int thread = 0; thread < 4; ++thread) {
      threads[thread].join();
    }
    CHECK(stock_test::eventually([&] { return reserver.snapshot(kScope).active_holds == 0; }));
  }
  done = true;
  for (std::size_t thread = 4; thread < threads.size(); ++thread) {
    threads[thread].join();
  }

  std::map<std::string, int> expired;
  std::map<std::string, int> released;
  for (const auto& event : stock_test::read_events(*client, kEvents)) {
    if (event.type == "hold_expired") {
      ++expired[event.hold_id];
    } else if (event.type == "released") {
      ++released[event.hold_id];
    }
  }
  int duplicates = 0;
  for (int hold = 0; hold < kHolds; ++hold) {
    const std::string id = "h" + std::to_string(hold);
    if (expired[id] + released[id] != 1) {
      ++duplicates;
    }
  }
  CHECK(duplicates == 0);
  CHECK(expired.size() > kHolds / 2);
  const auto red = stock_test::figures_of(reserver.snapshot(kScope), "red");
  CHECK(red.available == 1000000);
  CHECK(red.held == 0);
}

TEST_CASE("reserve, confirm and release keep working after SCRIPT FLUSH and a server restart",
          "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}});
  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);

  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  CHECK(reserver.reserve(kScope, "h2", {{"red", 2}}, 60s).status == ReserveStatus::Reserved);
  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  CHECK(reserver.confirm(kScope, "h1").status == ConfirmStatus::Confirmed);
  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  CHECK(reserver.release(kScope, "h2").status == ReleaseStatus::Released);
  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  CHECK(reserver.reclaim_expired(kScope, 10).reclaimed == 0);
  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  const auto red = stock_test::figures_of(reserver.snapshot(kScope), "red");
  CHECK(red.confirmed == 1);
  CHECK(red.available == 9);

  // Without persistence a restart loses the scope: reserves say so instead
  // of failing, and the host loads it again.
  server.restart();
  CHECK(reserver.reserve(kScope, "h3", {{"red", 1}}, 60s).status == ReserveStatus::UnknownSku);
  CHECK(reserver.snapshot(kScope).state == SaleState::NotLoaded);
  CHECK(reserver.load(kScope, {{"red", 10}}).status == LoadStatus::Loaded);
  CHECK(reserver.reserve(kScope, "h3", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
  CHECK(reserver.confirm(kScope, "h3").status == ConfirmStatus::Confirmed);
}

TEST_CASE("bad input raises InvalidArgument, sends nothing and leaves Redis unchanged", "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::StockReserverOptions options;
  options.max_hold_ttl = 10min;
  options.max_skus_per_cart = 3;
  options.max_hold_id_bytes = 16;
  options.max_reclaim_per_call = 50;
  StockReserver reserver(*client, options);
  reserver.load(kScope, {{"red", 10}, {"blue", 10}});
  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
  const std::string before = stock_test::dump_database(server.admin());

  const auto refused = [&](const char* what, auto&& call) {
    INFO(what);
    const long long processed = server.commands_processed();
    CHECK_THROWS_AS(call(), flashsale::InvalidArgument);
    CHECK(server.commands_processed() == processed + 1);
  };
  const std::int64_t too_much = flashsale::kMaxQuantity + 1;
  refused("quantity 0", [&] { reserver.reserve(kScope, "h2", {{"red", 0}}, 60s); });
  refused("negative quantity", [&] { reserver.reserve(kScope, "h2", {{"red", -1}}, 60s); });
  refused("quantity above 2^53", [&] { reserver.reserve(kScope, "h2", {{"red", too_much}}, 60s); });
  refused("empty cart", [&] { reserver.reserve(kScope, "h2", {}, 60s); });
  refused("same sku twice", [&] {
    reserver.reserve(kScope, "h2", {{"red", 1}, {"blue", 1}, {"red", 1}}, 60s);
  });
  refused("too many skus", [&] {
    reserver.reserve(kScope, "h2", {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}, 60s);
  });
  refused("ttl zero", [&] { reserver.reserve(kScope, "h2", {{"red", 1}}, 0ms); });
  refused("negative ttl", [&] { reserver.reserve(kScope, "h2", {{"red", 1}}, -5s); });
  refused("ttl above the maximum", [&] { reserver.reserve(kScope, "h2", {{"red", 1}}, 11min); });
  refused("scope with a brace", [&] { reserver.reserve("de{al", "h2", {{"red", 1}}, 60s); });
  refused("empty scope", [&] { reserver.reserve("", "h2", {{"red", 1}}, 60s); });
  refused("scope with a space", [&] { reserver.snapshot("a deal"); });
  refused("sku with whitespace", [&] { reserver.reserve(kScope, "h2", {{"r ed", 1}}, 60s); });
  refused("sku with a brace", [&] { reserver.reserve(kScope, "h2", {{"red}", 1}}, 60s); });
  refused("empty sku", [&] { reserver.reserve(kScope, "h2", {{"", 1}}, 60s); });
  refused("sku too long", [&] {
    reserver.reserve(kScope, "h2", {{std::string(129, 'x'), 1}}, 60s);
  });
  refused("empty hold id", [&] { reserver.reserve(kScope, "", {{"red", 1}}, 60s); });
  refused("hold id too long", [&] {
    reserver.reserve(kScope, std::string(17, 'h'), {{"red", 1}}, 60s);
  });
  refused("confirm with an empty hold id", [&] { reserver.confirm(kScope, ""); });
  refused("release with an invalid scope", [&] { reserver.release("x\ny", "h1"); });
  refused("extend with ttl zero", [&] { reserver.extend(kScope, "h1", 0ms); });
  refused("extend above the maximum", [&] { reserver.extend(kScope, "h1", 1h); });
  refused("reclaim limit zero", [&] { reserver.reclaim_expired(kScope, 0); });
  refused("reclaim limit above the maximum", [&] { reserver.reclaim_expired(kScope, 51); });
  refused("load nothing", [&] { reserver.load(kScope, {}, LoadMode::Replace); });
  refused("load quantity 0", [&] { reserver.load(kScope, {{"red", 0}}, LoadMode::Replace); });
  refused("load the same sku twice", [&] {
    reserver.load(kScope, {{"red", 1}, {"red", 2}}, LoadMode::Replace);
  });
  refused("end_sale of an invalid scope", [&] { reserver.end_sale("{deal}"); });
  std::vector<StockItem> too_many_skus;
  for (std::size_t sku = 0; sku <= flashsale::kMaxStockSkusPerScope; ++sku) {
    too_many_skus.push_back({"sku-" + std::to_string(sku), 1});
  }
  refused("load more skus than a scope may hold",
          [&] { reserver.load("big", too_many_skus, LoadMode::Replace); });

  CHECK(stock_test::dump_database(server.admin()) == before);
  CHECK_THROWS_AS(StockReserver(*client, flashsale::StockReserverOptions{"bad prefix"}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(HoldReaper(reserver, {"a b"}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(HoldReaper(reserver, {kScope}, {1s, 51}), flashsale::InvalidArgument);
}

TEST_CASE("max_stream_length 0 keeps every event and a cap trims the oldest", "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  for (const std::size_t cap : {std::size_t{0}, std::size_t{100}}) {
    flashsale::StockReserverOptions options;
    options.max_stream_length = cap;
    StockReserver reserver(*client, options);
    const std::string scope = "capped-" + std::to_string(cap);
    const std::string events = "fs:stock:{" + scope + "}:events";
    reserver.load(scope, {{"red", 1000}});
    for (int hold = 0; hold < 600; ++hold) {
      REQUIRE(reserver.reserve(scope, "h" + std::to_string(hold), {{"red", 1}}, 60s).status ==
              ReserveStatus::Reserved);
    }
    const long long length = stock_test::stream_length(*client, events);
    INFO("cap " << cap << ", stream length " << length);
    if (cap == 0) {
      CHECK(length == 601);  // loaded + 600 reserved
    } else {
      CHECK(length >= 100);
      CHECK(length < 601);
    }
  }
}

TEST_CASE(
    "a host applying each hold's events in stream order ends with the state its calls "
    "reported, Reacquired included",
    "[stock]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::StockReserverOptions options;
  options.reclaim_per_reserve = 0;  // only the explicit sweeps below expire holds
  StockReserver reserver(*client, options);
  reserver.load(kScope, {{"red", 10}, {"blue", 1}});
  const auto reserve = [&](const std::string& hold_id, std::vector<StockItem> items,
                           std::chrono::milliseconds ttl) {
    const auto result = reserver.reserve(kScope, hold_id, items, ttl);
    REQUIRE(result.status == ReserveStatus::Reserved);
    return *result.expires_at;
  };
  std::map<std::string, std::string> reported;
  reserve("paid", {{"red", 1}}, 60s);
  reported["paid"] = reserver.confirm(kScope, "paid").status == ConfirmStatus::Confirmed
                         ? "confirmed"
                         : "unexpected";
  reserve("dropped", {{"red", 1}}, 60s);
  reported["dropped"] = reserver.release(kScope, "dropped").status == ReleaseStatus::Released
                            ? "released"
                            : "unexpected";
  // Expires, is swept (hold_expired), then confirmed with its stock still there.
  reserve("swept-then-paid", {{"red", 2}}, 50ms);
  // Expires, is swept, and its stock is gone before the confirm.
  reserve("lost", {{"blue", 1}}, 50ms);
  // Expires unswept (its deadline is the latest, so the sweep of two below
  // leaves it): confirm itself finds the deadline passed.
  auto deadline = reserve("late-paid", {{"red", 1}}, 100ms);
  stock_test::wait_for_server_time_past(*client, deadline);
  REQUIRE(reserver.reclaim_expired(kScope, 2).reclaimed == 2);  // the two oldest deadlines
  REQUIRE(reserver.reserve(kScope, "rival", {{"blue", 1}}, 60s).status == ReserveStatus::Reserved);
  for (const std::string hold_id : {"swept-then-paid", "late-paid"}) {
    reported[hold_id] = reserver.confirm(kScope, hold_id).status == ConfirmStatus::Reacquired
                            ? "confirmed"
                            : "unexpected";
  }
  reported["lost"] =
      reserver.confirm(kScope, "lost").status == ConfirmStatus::Expired ? "expired" : "unexpected";
  deadline = reserve("abandoned", {{"red", 1}}, 50ms);
  stock_test::wait_for_server_time_past(*client, deadline);
  REQUIRE(reserver.reclaim_expired(kScope, 10).reclaimed == 1);
  reported["abandoned"] = "expired";

  // The host: per hold, the last event wins. hold_expired cancels the order;
  // a later `confirmed` (reacquired=1) reinstates it.
  std::map<std::string, std::string> host;
  std::map<std::string, int> expired_then_confirmed;
  for (const auto& entry : flashsale::testing::read_stream(*client, kEvents)) {
    const auto type = entry.fields.at("type");
    if (type == "loaded" || type == "sale_closed") {
      continue;
    }
    const auto& hold_id = entry.fields.at("hold_id");
    if (type == "confirmed" && host[hold_id] == "expired") {
      CHECK(entry.fields.at("reacquired") == "1");
      ++expired_then_confirmed[hold_id];
    }
    host[hold_id] = type == "reserved" ? "held" : type == "hold_expired" ? "expired" : type;
  }
  for (const auto& [hold_id, state] : reported) {
    INFO(hold_id);
    CHECK(host[hold_id] == state);
  }
  // The swept hold's late payment followed its hold_expired event (a host
  // that cancels on hold_expired alone would cancel a paid order); the
  // unswept one was confirmed late without ever expiring.
  CHECK(expired_then_confirmed["swept-then-paid"] == 1);
  CHECK(expired_then_confirmed.count("late-paid") == 0);
  CHECK(stock_test::count_events(*client, kEvents, "hold_expired", "late-paid") == 0);
  CHECK(host["rival"] == "held");
}
