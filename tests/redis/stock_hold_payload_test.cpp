// StockReserver host payloads against a real redis-server: the payload stored
// with a hold comes back from hold(), confirm and every event of the hold,
// survives a restore, and a payload over the limit is refused before any I/O.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_server.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::ConfirmStatus;
using flashsale::HoldReaper;
using flashsale::HoldState;
using flashsale::ReleaseStatus;
using flashsale::ReserveStatus;
using flashsale::RestoredHold;
using flashsale::StockItem;
using flashsale::StockReserver;
using flashsale::testing::RedisServer;
using flashsale::testing::StreamEntry;
namespace stock_test = flashsale::testing::stock;

namespace {

const std::string kScope = "deal";
const std::string kEvents = "fs:stock:{deal}:events";

// The entries of `type` for `hold_id`, oldest first.
std::vector<StreamEntry> events_of(flashsale::Client& client, const std::string& type,
                                   const std::string& hold_id) {
  std::vector<StreamEntry> found;
  for (auto& entry : flashsale::testing::read_stream(client, kEvents)) {
    if (entry.fields["type"] == type && entry.fields["hold_id"] == hold_id) {
      found.push_back(std::move(entry));
    }
  }
  return found;
}

// The payload field of the one event of `type` for `hold_id`; "<absent>"
// when that event has none, "<missing>" unless there is exactly one.
std::string event_payload(flashsale::Client& client, const std::string& type,
                          const std::string& hold_id) {
  const auto events = events_of(client, type, hold_id);
  if (events.size() != 1) {
    return "<missing>";
  }
  const auto field = events[0].fields.find("payload");
  return field == events[0].fields.end() ? "<absent>" : field->second;
}

}  // namespace

TEST_CASE(
    "a hold's payload comes back from hold(), confirm and its reserved, confirmed and released "
    "events",
    "[stock][payload]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  reserver.load(kScope, {{"red", 10}, {"blue", 5}});
  // Any bytes: spaces, newlines, NUL.
  const std::string order{"order-17 user 42\n\0end", 22};
  const std::string other = "order-18";

  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 2}, {"blue", 1}}, 60s, order).status ==
          ReserveStatus::Reserved);
  REQUIRE(reserver.reserve(kScope, "h2", {{"red", 1}}, 60s, other).status ==
          ReserveStatus::Reserved);
  REQUIRE(reserver.reserve(kScope, "plain", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);

  auto view = reserver.hold(kScope, "h1");
  REQUIRE(view.has_value());
  CHECK(view->state == HoldState::Active);
  CHECK(view->payload == order);
  CHECK(reserver.hold(kScope, "plain")->payload.empty());
  CHECK(event_payload(*client, "reserved", "h1") == order);
  CHECK(event_payload(*client, "reserved", "plain") == "<absent>");

  // A retried reserve with another payload changes nothing.
  CHECK(reserver.reserve(kScope, "h1", {{"red", 2}, {"blue", 1}}, 60s, "retry").status ==
        ReserveStatus::AlreadyReserved);
  CHECK(reserver.hold(kScope, "h1")->payload == order);

  const auto confirmed = reserver.confirm(kScope, "h1");
  CHECK(confirmed.status == ConfirmStatus::Confirmed);
  CHECK(confirmed.payload == order);
  CHECK(event_payload(*client, "confirmed", "h1") == order);
  const auto again = reserver.confirm(kScope, "h1");
  CHECK(again.status == ConfirmStatus::AlreadyConfirmed);
  CHECK(again.payload == order);
  view = reserver.hold(kScope, "h1");
  REQUIRE(view.has_value());
  CHECK(view->state == HoldState::Confirmed);
  CHECK(view->payload == order);

  CHECK(reserver.release(kScope, "h2").status == ReleaseStatus::Released);
  CHECK(event_payload(*client, "released", "h2") == other);
  const auto released = reserver.confirm(kScope, "h2");
  CHECK(released.status == ConfirmStatus::Released);
  CHECK(released.payload == other);
  CHECK(reserver.hold(kScope, "h2")->payload == other);

  const auto plain = reserver.confirm(kScope, "plain");
  CHECK(plain.status == ConfirmStatus::Confirmed);
  CHECK(plain.payload.empty());
  CHECK(event_payload(*client, "confirmed", "plain") == "<absent>");
  const auto unknown = reserver.confirm(kScope, "nobody");
  CHECK(unknown.status == ConfirmStatus::UnknownHold);
  CHECK(unknown.payload.empty());
  // Only holds with a payload are in the payloads hash.
  CHECK(client->execute({{"HLEN", "fs:stock:{deal}:payloads"}, "fs:stock:{deal}:payloads", {}})
            .as_integer() == 2);
}

TEST_CASE(
    "the hold_expired event of a hold a reaper expires carries its payload, and a late "
    "confirm returns it",
    "[stock][payload]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::StockReserverOptions no_reclaim;
  no_reclaim.reclaim_per_reserve = 0;  // only the reaper expires holds here
  StockReserver reserver(*client, no_reclaim);
  reserver.load(kScope, {{"red", 10}});
  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 3}}, 50ms, "order-1").status ==
          ReserveStatus::Reserved);
  REQUIRE(reserver.reserve(kScope, "plain", {{"red", 1}}, 50ms).status == ReserveStatus::Reserved);

  flashsale::HoldReaperOptions options;
  options.interval = 20ms;
  {
    HoldReaper reaper(reserver, {kScope}, options);
    CHECK(stock_test::eventually([&] { return reserver.snapshot(kScope).active_holds == 0; }));
    reaper.stop();
    CHECK(reaper.reclaimed() == 2);
  }
  CHECK(event_payload(*client, "hold_expired", "h1") == "order-1");
  CHECK(event_payload(*client, "hold_expired", "plain") == "<absent>");
  const auto view = reserver.hold(kScope, "h1");
  REQUIRE(view.has_value());
  CHECK(view->state == HoldState::Expired);
  CHECK(view->payload == "order-1");

  // A confirm after expiry takes the stock again: result and event carry it.
  const auto late = reserver.confirm(kScope, "h1");
  CHECK(late.status == ConfirmStatus::Reacquired);
  CHECK(late.payload == "order-1");
  const auto confirmed = events_of(*client, "confirmed", "h1");
  REQUIRE(confirmed.size() == 1);
  CHECK(confirmed[0].fields.at("reacquired") == "1");
  CHECK(confirmed[0].fields.at("payload") == "order-1");
}

TEST_CASE("a restore brings back the payloads of the confirmed holds it is given",
          "[stock][payload][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  StockReserver reserver(*client);
  const std::vector<StockItem> stock = {{"red", 10}};
  reserver.load(kScope, stock);
  const std::int64_t first_epoch = reserver.snapshot(kScope).epoch;
  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 2}}, 60s, "order-1").status ==
          ReserveStatus::Reserved);
  REQUIRE(reserver.confirm(kScope, "h1").status == ConfirmStatus::Confirmed);
  REQUIRE(reserver.reserve(kScope, "h2", {{"red", 1}}, 60s).status == ReserveStatus::Reserved);
  REQUIRE(reserver.confirm(kScope, "h2").status == ConfirmStatus::Confirmed);

  // What the host persisted from the confirmed events, payload included.
  std::vector<RestoredHold> persisted;
  for (const auto& entry : flashsale::testing::read_stream(*client, kEvents)) {
    if (entry.fields.at("type") != "confirmed") {
      continue;
    }
    const auto payload = entry.fields.find("payload");
    persisted.push_back({entry.fields.at("hold_id"),
                         {{"red", entry.fields.at("hold_id") == "h1" ? 2 : 1}},
                         payload == entry.fields.end() ? "" : payload->second});
  }
  REQUIRE(persisted.size() == 2);

  server.admin().execute({{"FLUSHALL"}, {}, {}});
  const auto restored = reserver.restore(kScope, stock, persisted, first_epoch);
  CHECK(stock_test::figures_of(restored, "red").confirmed == 3);
  CHECK(reserver.hold(kScope, "h1")->payload == "order-1");
  CHECK(reserver.hold(kScope, "h2")->payload.empty());
  const auto again = reserver.confirm(kScope, "h1");
  CHECK(again.status == ConfirmStatus::AlreadyConfirmed);
  CHECK(again.payload == "order-1");

  // Recording the same hold again adds nothing; with another payload it is refused.
  const std::int64_t epoch = reserver.begin_restore(kScope, stock, restored.epoch);
  reserver.restore_confirmed(kScope, epoch, {{"h1", {{"red", 2}}, "order-1"}});
  reserver.restore_confirmed(kScope, epoch, {{"h1", {{"red", 2}}, "order-1"}});
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"h1", {{"red", 2}}, "order-9"}}),
                  flashsale::ReplyError);
  CHECK_THROWS_AS(reserver.restore_confirmed(kScope, epoch, {{"h1", {{"red", 2}}, ""}}),
                  flashsale::ReplyError);
  const auto finished = reserver.finish_restore(kScope, epoch);
  CHECK(stock_test::figures_of(finished, "red").confirmed == 2);
  CHECK(reserver.hold(kScope, "h1")->payload == "order-1");
  CHECK_FALSE(reserver.hold(kScope, "h2").has_value());
}

TEST_CASE("a payload over max_payload_bytes is refused before any I/O with Redis unchanged",
          "[stock][payload]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::StockReserverOptions options;
  options.max_payload_bytes = 8;
  StockReserver reserver(*client, options);
  reserver.load(kScope, {{"red", 10}});
  REQUIRE(reserver.reserve(kScope, "h1", {{"red", 1}}, 60s, "12345678").status ==
          ReserveStatus::Reserved);
  const std::string before = stock_test::dump_database(server.admin());

  const auto refused = [&](const char* what, auto&& call) {
    INFO(what);
    const long long processed = server.commands_processed();
    CHECK_THROWS_AS(call(), flashsale::InvalidArgument);
    CHECK(server.commands_processed() == processed + 1);
  };
  refused("reserve", [&] { reserver.reserve(kScope, "h2", {{"red", 1}}, 60s, "123456789"); });
  refused("restore_confirmed", [&] {
    reserver.restore_confirmed(kScope, 1, {{"h2", {{"red", 1}}, "123456789"}});
  });
  refused("restore", [&] {
    reserver.restore(kScope, {{"red", 10}}, {{"h2", {{"red", 1}}, "123456789"}});
  });
  CHECK(stock_test::dump_database(server.admin()) == before);

  flashsale::StockReserverOptions zero;
  zero.max_payload_bytes = 0;
  CHECK_THROWS_AS(StockReserver(*client, zero), flashsale::InvalidArgument);
  flashsale::StockReserverOptions too_big;
  too_big.max_payload_bytes = flashsale::kMaxStockPayloadBytesLimit + 1;
  CHECK_THROWS_AS(StockReserver(*client, too_big), flashsale::InvalidArgument);
  flashsale::StockReserverOptions largest;
  largest.max_payload_bytes = flashsale::kMaxStockPayloadBytesLimit;
  StockReserver roomy(*client, largest);
  const std::string big(flashsale::kMaxStockPayloadBytesLimit, 'x');
  CHECK(roomy.reserve(kScope, "big", {{"red", 1}}, 60s, big).status == ReserveStatus::Reserved);
  CHECK(roomy.confirm(kScope, "big").payload == big);
}
