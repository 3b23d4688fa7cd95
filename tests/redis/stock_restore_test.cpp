// StockReserver incarnations and the restore path against a real
// redis-server: the epoch in every result and event, a restore from persisted
// confirmed holds after Redis lost data, the Restoring state, batches,
// refusals, and bad input.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_server.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::ConfirmStatus;
using flashsale::ExtendStatus;
using flashsale::LoadMode;
using flashsale::LoadStatus;
using flashsale::ReleaseStatus;
using flashsale::ReserveStatus;
using flashsale::RestoredHold;
using flashsale::SaleState;
using flashsale::StockItem;
using flashsale::StockReserver;
using flashsale::testing::read_stream;
using flashsale::testing::RedisServer;
using flashsale::testing::server_time_ms;
namespace stock_test = flashsale::testing::stock;

namespace {

const std::string kScope = "deal";
const std::string kEvents = "fs:stock:{deal}:events";

void flush_all(RedisServer& server) {
  server.admin().execute({{"FLUSHALL"}, {}, {}});
}

// Per SKU: initial = available + held + confirmed, nothing below zero.
bool invariant_holds(const flashsale::StockSnapshot& snapshot) {
  for (const auto& sku : snapshot.skus) {
    if (sku.initial != sku.available + sku.held + sku.confirmed || sku.available < 0 ||
        sku.held < 0 || sku.confirmed < 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("every stock result and event carries the scope's epoch, new on every load",
          "[stock][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  CHECK(reserver.snapshot(kScope).epoch == 0);
  const std::int64_t before_us = server_time_ms(*client) * 1000;
  const auto loaded = reserver.load(kScope, {{"red", 10}});
  CHECK(loaded.status == LoadStatus::Loaded);
  const std::int64_t epoch = reserver.snapshot(kScope).epoch;
  CHECK(loaded.epoch == epoch);
  CHECK(reserver.load(kScope, {{"red", 10}}).epoch == epoch);  // AlreadyLoaded
  CHECK(epoch >= before_us);                                   // microseconds of the server clock
  CHECK(epoch < before_us + 60'000'000);

  CHECK(reserver.reserve(kScope, "h1", {{"red", 1}}, 10s).epoch == epoch);
  CHECK(reserver.reserve(kScope, "h1", {{"red", 1}}, 10s).epoch == epoch);  // AlreadyReserved
  CHECK(reserver.extend(kScope, "h1", 20s).epoch == epoch);
  CHECK(reserver.confirm(kScope, "h1").epoch == epoch);
  CHECK(reserver.reserve(kScope, "h2", {{"red", 1}}, 10s).status == ReserveStatus::Reserved);
  const auto released = reserver.release(kScope, "h2");
  CHECK(released.status == ReleaseStatus::Released);
  CHECK(released.epoch == epoch);
  const auto short_hold = reserver.reserve(kScope, "h3", {{"red", 1}}, 1ms);
  REQUIRE(short_hold.expires_at.has_value());
  stock_test::wait_for_server_time_past(*client, *short_hold.expires_at);
  const auto reclaimed = reserver.reclaim_expired(kScope, 10);
  CHECK(reclaimed.reclaimed == 1);
  CHECK(reclaimed.epoch == epoch);
  // A confirm after the deadline of a hold nobody expired: confirmed late.
  const auto late_hold = reserver.reserve(kScope, "h4", {{"red", 1}}, 1ms);
  REQUIRE(late_hold.expires_at.has_value());
  stock_test::wait_for_server_time_past(*client, *late_hold.expires_at);
  const auto late = reserver.confirm(kScope, "h4");
  CHECK(late.status == ConfirmStatus::Reacquired);
  CHECK(late.epoch == epoch);
  CHECK(reserver.end_sale(kScope).epoch == epoch);

  const auto events = read_stream(*client, kEvents);
  REQUIRE(events.size() >= 8);
  for (const auto& event : events) {
    INFO(event.fields.at("type"));
    CHECK(event.fields.at("epoch") == std::to_string(epoch));
  }

  const auto reloaded = reserver.load(kScope, {{"red", 10}}, LoadMode::Replace);
  CHECK(reloaded.epoch > epoch);
  CHECK(reserver.snapshot(kScope).epoch == reloaded.epoch);
}

TEST_CASE(
    "a stock restore after data loss confirms exactly the persisted holds under a new epoch and "
    "retried calls of restored holds change nothing",
    "[stock][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  const std::vector<StockItem> stock = {{"red", 10}, {"blue", 5}};
  reserver.load(kScope, stock);
  const std::int64_t first_epoch = reserver.snapshot(kScope).epoch;
  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 2}}, 60s).status == ReserveStatus::Reserved);
  REQUIRE(reserver.confirm(kScope, "h1").status == ConfirmStatus::Confirmed);
  REQUIRE(reserver.reserve(kScope, "h2", {{"red", 1}, {"blue", 1}}, 60s).status ==
          ReserveStatus::Reserved);
  REQUIRE(reserver.confirm(kScope, "h2").status == ConfirmStatus::Confirmed);
  REQUIRE(reserver.reserve(kScope, "h3", {{"blue", 3}}, 60s).status == ReserveStatus::Reserved);

  flush_all(server);  // Redis lost everything; the host persisted h1 and h2
  const std::vector<RestoredHold> confirmed = {{"h1", {{"red", 2}}},
                                               {"h2", {{"red", 1}, {"blue", 1}}}};
  const auto restored = reserver.restore(kScope, stock, confirmed, first_epoch);
  CHECK(restored.state == SaleState::Open);
  CHECK(restored.epoch > first_epoch);
  CHECK(restored.active_holds == 0);
  CHECK(invariant_holds(restored));
  CHECK(stock_test::figures_of(restored, "red").confirmed == 3);
  CHECK(stock_test::figures_of(restored, "red").available == 7);
  CHECK(stock_test::figures_of(restored, "blue").confirmed == 1);
  CHECK(stock_test::figures_of(restored, "blue").available == 4);

  const auto confirm_again = reserver.confirm(kScope, "h1");
  CHECK(confirm_again.status == ConfirmStatus::AlreadyConfirmed);
  CHECK(confirm_again.epoch == restored.epoch);
  const auto reserve_again = reserver.reserve(kScope, "h2", {{"red", 1}, {"blue", 1}}, 60s);
  CHECK(reserve_again.status == ReserveStatus::AlreadyReserved);
  CHECK_FALSE(reserve_again.expires_at.has_value());
  CHECK(reserver.release(kScope, "h2").status == ReleaseStatus::NotReleasable);
  // The active hold was not persisted as confirmed: it is gone, its stock back.
  CHECK(reserver.confirm(kScope, "h3").status == ConfirmStatus::UnknownHold);
  const auto fresh = reserver.reserve(kScope, "h4", {{"blue", 4}}, 60s);
  CHECK(fresh.status == ReserveStatus::Reserved);
  CHECK(fresh.epoch == restored.epoch);
  CHECK(reserver.reserve(kScope, "h5", {{"blue", 1}}, 60s).status ==
        ReserveStatus::InsufficientStock);
  const auto after = reserver.snapshot(kScope);
  CHECK(invariant_holds(after));

  const auto events = read_stream(*client, kEvents);
  REQUIRE_FALSE(events.empty());
  CHECK(events[0].fields.at("type") == "restored");
  CHECK(events[0].fields.at("epoch") == std::to_string(restored.epoch));
  CHECK(events[0].fields.at("confirmed_holds") == "2");
}

TEST_CASE(
    "while a stock restore runs every hold call answers Restoring and a newer begin supersedes "
    "an older epoch",
    "[stock][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  const std::vector<StockItem> stock = {{"red", 10}};
  reserver.load(kScope, stock);
  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 2}}, 60s).status == ReserveStatus::Reserved);

  const std::int64_t first = reserver.begin_restore(kScope, stock);
  CHECK(reserver.snapshot(kScope).state == SaleState::Restoring);
  const auto blocked = reserver.reserve(kScope, "h2", {{"red", 1}}, 60s);
  CHECK(blocked.status == ReserveStatus::Restoring);
  CHECK(blocked.epoch == first);
  CHECK(reserver.confirm(kScope, "h1").status == ConfirmStatus::Restoring);
  CHECK(reserver.release(kScope, "h1").status == ReleaseStatus::Restoring);
  CHECK(reserver.extend(kScope, "h1", 10s).status == ExtendStatus::Restoring);
  CHECK(reserver.reclaim_expired(kScope, 10).reclaimed == 0);
  CHECK(reserver.end_sale(kScope).state == SaleState::Restoring);  // not closed mid-restore

  reserver.restore_confirmed(kScope, first, {{"h1", {{"red", 2}}}});
  const std::int64_t second = reserver.begin_restore(kScope, stock);
  CHECK(second > first);
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, first, {{"h1", {{"red", 2}}}}),
                  flashsale::ReplyError);
  CHECK_THROWS_AS(reserver.finish_restore(kScope, first), flashsale::ReplyError);
  CHECK(stock_test::figures_of(reserver.snapshot(kScope), "red").confirmed == 0);

  reserver.restore_confirmed(kScope, second, {{"h1", {{"red", 2}}}});
  reserver.restore_confirmed(kScope, second, {{"h1", {{"red", 2}}}});  // a retry adds nothing
  const auto finished = reserver.finish_restore(kScope, second);
  CHECK(finished.epoch == second);
  CHECK(finished.state == SaleState::Open);
  CHECK(stock_test::figures_of(finished, "red").confirmed == 2);
  CHECK(stock_test::figures_of(finished, "red").available == 8);
  const auto events_before = stock_test::stream_length(*client, kEvents);
  CHECK(reserver.finish_restore(kScope, second).epoch == second);  // a retry changes nothing
  CHECK(stock_test::stream_length(*client, kEvents) == events_before);
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, second, {{"h9", {{"red", 1}}}}),
                  flashsale::ReplyError);  // finished: no more batches
  CHECK(reserver.reserve(kScope, "h2", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
}

TEST_CASE("stock restore batches are bounded and the script refuses what one batch cannot see",
          "[stock][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  const std::vector<StockItem> stock = {{"red", 3000}, {"blue", 10}};
  std::vector<RestoredHold> confirmed;
  for (int i = 0; i < 2500; ++i) {
    confirmed.push_back({"hold-" + std::to_string(i), {{"red", 1}}});
  }
  const auto restored = reserver.restore(kScope, stock, confirmed);  // three batches
  CHECK(stock_test::figures_of(restored, "red").confirmed == 2500);
  CHECK(stock_test::figures_of(restored, "red").available == 500);
  CHECK(reserver.confirm(kScope, "hold-2499").status == ConfirmStatus::AlreadyConfirmed);

  const std::int64_t epoch = reserver.begin_restore(kScope, stock, restored.epoch);
  CHECK(epoch > restored.epoch);
  reserver.restore_confirmed(kScope, epoch, {{"a", {{"blue", 6}}}});
  const std::string before = stock_test::dump_database(server.admin());
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"b", {{"blue", 5}}}}),
                  flashsale::ReplyError);  // 11 confirmed of 10
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"a", {{"blue", 5}}}}),
                  flashsale::ReplyError);  // the same hold with other items
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"c", {{"green", 1}}}}),
                  flashsale::ReplyError);  // not in the stock
  CHECK(stock_test::dump_database(server.admin()) == before);
  const auto finished = reserver.finish_restore(kScope, epoch);
  CHECK(stock_test::figures_of(finished, "blue").confirmed == 6);
  CHECK(invariant_holds(finished));
}

TEST_CASE(
    "bad stock restore input raises InvalidArgument, sends nothing and leaves Redis unchanged",
    "[stock][restore]") {
  RedisServer server;
  auto client = server.make_client(1);
  StockReserver reserver(*client);
  const std::vector<StockItem> stock = {{"red", 3}};
  reserver.load(kScope, stock);
  const std::string before_dump = stock_test::dump_database(server.admin());
  const long long before = server.commands_processed();
  const std::int64_t epoch = 1'700'000'000'000'000;

  CHECK_THROWS_AS(reserver.begin_restore(kScope, {}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.begin_restore(kScope, {{"red", 0}}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.begin_restore(kScope, {{"red", 1}, {"red", 2}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.begin_restore("a b", stock), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.begin_restore(kScope, stock, -1), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.begin_restore(kScope, stock, flashsale::kMaxQuantity),
                  flashsale::InvalidArgument);

  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, 0, {{"h", {{"red", 1}}}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"", {{"red", 1}}}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"h", {}}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"h", {{"red", -1}}}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"h", {{"re d", 1}}}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(
      reserver.restore_confirmed(kScope, epoch, {{"h", {{"red", 1}}}, {"h", {{"red", 1}}}}),
      flashsale::InvalidArgument);
  std::vector<RestoredHold> too_many(flashsale::kMaxStockRestoredHoldsPerBatch + 1);
  for (std::size_t i = 0; i < too_many.size(); ++i) {
    too_many[i] = {"h" + std::to_string(i), {{"red", 1}}};
  }
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, too_many), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.finish_restore(kScope, 0), flashsale::InvalidArgument);

  // restore() checks everything before it sends anything.
  CHECK_THROWS_AS(reserver.restore(kScope, stock, {{"h", {{"red", 4}}}}),
                  flashsale::InvalidArgument);  // beyond the stock
  CHECK_THROWS_AS(reserver.restore(kScope, stock, {{"h", {{"red", 2}}}, {"i", {{"red", 2}}}}),
                  flashsale::InvalidArgument);  // beyond the stock over two holds
  CHECK_THROWS_AS(reserver.restore(kScope, stock, {{"h", {{"blue", 1}}}}),
                  flashsale::InvalidArgument);  // a SKU not in the stock
  CHECK_THROWS_AS(reserver.restore(kScope, stock, {{"h", {{"red", 1}}}, {"h", {{"red", 1}}}}),
                  flashsale::InvalidArgument);  // a hold twice
  CHECK_THROWS_AS(reserver.restore("", stock, {}), flashsale::InvalidArgument);

  CHECK(server.commands_processed() == before + 1);
  CHECK(stock_test::dump_database(server.admin()) == before_dump);
}
