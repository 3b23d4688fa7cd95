// StockReserver opens_at against a real redis-server: before the scope's
// opening time by the server clock a reserve answers NotOpen and changes
// nothing; the epoch (the default) means open now; a restore keeps it or
// sets it; bad times are refused before any I/O.
#include <chrono>
#include <cstdint>
#include <string>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_server.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::ConfirmStatus;
using flashsale::LoadMode;
using flashsale::LoadStatus;
using flashsale::ReserveStatus;
using flashsale::StockReserver;
using flashsale::testing::RedisServer;
namespace stock_test = flashsale::testing::stock;

namespace {

const std::string kScope = "deal";
const std::string kEvents = "fs:stock:{deal}:events";

}  // namespace

TEST_CASE(
    "a reserve before the scope's opens_at answers NotOpen and changes nothing, after it "
    "reserves",
    "[stock][opens_at]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  const auto opens_at = flashsale::testing::server_now(*client) + 300ms;
  const auto loaded = reserver.load(kScope, {{"red", 10}}, LoadMode::FailIfLoaded, opens_at);
  REQUIRE(loaded.status == LoadStatus::Loaded);
  const auto events = flashsale::testing::read_stream(*client, kEvents);
  REQUIRE(events.size() == 1);
  CHECK(events[0].fields.at("opens_at") ==
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(opens_at.time_since_epoch())
                .count()));

  const auto opens_at_ms = std::chrono::time_point_cast<std::chrono::milliseconds>(opens_at);
  CHECK(reserver.snapshot(kScope).opens_at == opens_at_ms);

  const std::string before = stock_test::dump_database(server.admin());
  const auto early = reserver.reserve(kScope, "h1", {{"red", 1}}, 60s, "order-1");
  CHECK(early.status == ReserveStatus::NotOpen);
  CHECK_FALSE(early.expires_at.has_value());
  CHECK(early.epoch == loaded.epoch);
  CHECK(stock_test::dump_database(server.admin()) == before);
  CHECK_FALSE(reserver.hold(kScope, "h1").has_value());

  stock_test::wait_for_server_time_past(*client, opens_at);
  const auto open = reserver.reserve(kScope, "h1", {{"red", 1}}, 60s, "order-1");
  CHECK(open.status == ReserveStatus::Reserved);
  CHECK(reserver.confirm(kScope, "h1").status == ConfirmStatus::Confirmed);
  CHECK(stock_test::figures_of(reserver.snapshot(kScope), "red").confirmed == 1);
}

TEST_CASE("opens_at at the epoch means open now and a Replace load sets or clears it",
          "[stock][opens_at]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  CHECK(reserver.snapshot(kScope).opens_at == std::chrono::system_clock::time_point{});
  reserver.load(kScope, {{"red", 10}});
  CHECK(reserver.snapshot(kScope).opens_at == std::chrono::system_clock::time_point{});
  CHECK(reserver.reserve(kScope, "h1", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
  CHECK(flashsale::testing::read_stream(*client, kEvents)[0].fields.count("opens_at") == 0);

  const auto tomorrow = flashsale::testing::server_now(*client) + 24h;
  reserver.load(kScope, {{"red", 10}}, LoadMode::Replace, tomorrow);
  CHECK(reserver.reserve(kScope, "h2", {{"red", 1}}, 60s).status == ReserveStatus::NotOpen);
  // A FailIfLoaded load changes nothing, opens_at included.
  CHECK(reserver.load(kScope, {{"red", 10}}).status == LoadStatus::AlreadyLoaded);
  CHECK(reserver.reserve(kScope, "h2", {{"red", 1}}, 60s).status == ReserveStatus::NotOpen);
  // A past time is open.
  reserver.load(kScope, {{"red", 10}}, LoadMode::Replace,
                flashsale::testing::server_now(*client) - 1h);
  CHECK(reserver.reserve(kScope, "h2", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
  reserver.load(kScope, {{"red", 10}}, LoadMode::Replace, tomorrow);
  reserver.load(kScope, {{"red", 10}}, LoadMode::Replace);
  CHECK(reserver.reserve(kScope, "h3", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
  CHECK(client->execute({{"EXISTS", "fs:stock:{deal}:opens_at"}, "fs:stock:{deal}:opens_at", {}})
            .as_integer() == 0);

  // A restore keeps the scope's opens_at.
  reserver.load(kScope, {{"red", 10}}, LoadMode::Replace, tomorrow);
  const auto restored = reserver.restore(kScope, {{"red", 10}}, {});
  CHECK(restored.opens_at == std::chrono::time_point_cast<std::chrono::milliseconds>(tomorrow));
  CHECK(reserver.reserve(kScope, "h4", {{"red", 1}}, 60s).status == ReserveStatus::NotOpen);
}

TEST_CASE("a restore given an opens_at sets it after Redis lost the key, without one keeps it",
          "[stock][opens_at][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  const auto tomorrow = flashsale::testing::server_now(*client) + 24h;
  const auto tomorrow_ms = std::chrono::time_point_cast<std::chrono::milliseconds>(tomorrow);
  const std::string tomorrow_text = std::to_string(tomorrow_ms.time_since_epoch().count());
  reserver.load(kScope, {{"red", 10}}, LoadMode::FailIfLoaded, tomorrow);

  // Redis loses everything: a restore without opens_at opens now.
  server.admin().execute({{"FLUSHALL"}, {}, {}});
  CHECK(reserver.restore(kScope, {{"red", 10}}, {}).opens_at ==
        std::chrono::system_clock::time_point{});
  CHECK(reserver.reserve(kScope, "h1", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);

  // Again, and the host passes the opening time it persisted.
  server.admin().execute({{"FLUSHALL"}, {}, {}});
  const auto restored = reserver.restore(kScope, {{"red", 10}}, {}, 0, tomorrow);
  CHECK(restored.opens_at == tomorrow_ms);
  CHECK(reserver.reserve(kScope, "h1", {{"red", 1}}, 60s).status == ReserveStatus::NotOpen);
  auto events = flashsale::testing::read_stream(*client, kEvents);
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().fields.at("type") == "restored");
  CHECK(events.back().fields.at("opens_at") == tomorrow_text);

  // Step by step, without one: the opening time Redis holds stays.
  const std::int64_t epoch = reserver.begin_restore(kScope, {{"red", 10}}, restored.epoch);
  CHECK(reserver.finish_restore(kScope, epoch).opens_at == tomorrow_ms);
  CHECK(reserver.reserve(kScope, "h1", {{"red", 1}}, 60s).status == ReserveStatus::NotOpen);

  // The Unix epoch clears it: open now, and the restored event says nothing of it.
  const std::int64_t reopened =
      reserver.begin_restore(kScope, {{"red", 10}}, epoch, std::chrono::system_clock::time_point{});
  CHECK(reserver.finish_restore(kScope, reopened).opens_at ==
        std::chrono::system_clock::time_point{});
  CHECK(client->execute({{"EXISTS", "fs:stock:{deal}:opens_at"}, "fs:stock:{deal}:opens_at", {}})
            .as_integer() == 0);
  events = flashsale::testing::read_stream(*client, kEvents);
  CHECK(events.back().fields.at("type") == "restored");
  CHECK(events.back().fields.count("opens_at") == 0);
  CHECK(reserver.reserve(kScope, "h1", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
}

TEST_CASE("an opens_at before the Unix epoch is refused before any I/O", "[stock][opens_at]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}});
  const std::string before = stock_test::dump_database(server.admin());
  const auto refused = [&](const char* what, std::chrono::system_clock::time_point opens_at) {
    INFO(what);
    const long long processed = server.commands_processed();
    CHECK_THROWS_AS(reserver.load(kScope, {{"red", 5}}, LoadMode::Replace, opens_at),
                    flashsale::InvalidArgument);
    CHECK_THROWS_AS(reserver.begin_restore(kScope, {{"red", 5}}, 0, opens_at),
                    flashsale::InvalidArgument);
    CHECK_THROWS_AS(reserver.restore(kScope, {{"red", 5}}, {}, 0, opens_at),
                    flashsale::InvalidArgument);
    CHECK(server.commands_processed() == processed + 1);
  };
  refused("1 ms before the epoch", std::chrono::system_clock::time_point{} - 1ms);
  refused("a year before the epoch", std::chrono::system_clock::time_point{} - 24h * 365);
  CHECK(stock_test::dump_database(server.admin()) == before);
}
