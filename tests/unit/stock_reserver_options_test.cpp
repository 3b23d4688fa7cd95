// StockReserver option and input validation without a server: a client that
// counts calls shows that refused input and refused options send nothing.
#include <chrono>
#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/stock_reserver.hpp"

using namespace std::chrono_literals;
using flashsale::InvalidArgument;
using flashsale::StockReserver;
using flashsale::StockReserverOptions;

namespace {

// Counts every call and answers none: any call is a failure of the test.
class CountingClient final : public flashsale::Client {
 public:
  flashsale::Reply execute(const flashsale::Command&) override { return called(); }
  std::vector<flashsale::Reply> execute_pipeline(const std::vector<flashsale::Command>&) override {
    called();
    return {};
  }
  std::vector<flashsale::Reply> run_script_pipeline(
      const std::vector<flashsale::ScriptCall>&) override {
    called();
    return {};
  }
  flashsale::ServerInfo server_info() override {
    called();
    return {};
  }
  int calls = 0;

 private:
  flashsale::Reply called() {
    ++calls;
    throw flashsale::ConnectionError("no server in a unit test");
  }
};

StockReserverOptions quiet_options() {
  StockReserverOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  return options;
}

}  // namespace

TEST_CASE("options outside their documented limits are refused before any call", "[stock][unit]") {
  CountingClient client;
  const auto refused = [&](auto&& change) {
    StockReserverOptions options = quiet_options();
    change(options);
    CHECK_THROWS_AS(StockReserver(client, options), InvalidArgument);
  };
  refused([](StockReserverOptions& o) { o.key_prefix = "has space"; });
  refused([](StockReserverOptions& o) { o.max_skus_per_cart = 0; });
  refused([](StockReserverOptions& o) {
    o.max_skus_per_cart = flashsale::kMaxStockSkusPerCartLimit + 1;
  });
  refused([](StockReserverOptions& o) { o.max_reclaim_per_call = 0; });
  refused([](StockReserverOptions& o) {
    o.max_reclaim_per_call = flashsale::kMaxStockReclaimPerCallLimit + 1;
  });
  refused([](StockReserverOptions& o) { o.reclaim_per_reserve = o.max_reclaim_per_call + 1; });
  refused([](StockReserverOptions& o) { o.max_hold_ttl = 0ms; });
  refused(
      [](StockReserverOptions& o) { o.max_stream_length = flashsale::kMaxStreamLengthLimit + 1; });
  refused([](StockReserverOptions& o) { o.max_hold_id_bytes = 0; });
  refused(
      [](StockReserverOptions& o) { o.max_hold_id_bytes = flashsale::kMaxMemberIdBytesLimit + 1; });
  refused([](StockReserverOptions& o) { o.max_payload_bytes = 0; });
  refused([](StockReserverOptions& o) {
    o.max_payload_bytes = flashsale::kMaxStockPayloadBytesLimit + 1;
  });
  CHECK(client.calls == 0);

  CHECK_NOTHROW(StockReserver(client, quiet_options()));
  CHECK(client.calls == 0);
  StockReserverOptions checked;  // the default Warn mode reads the server's policy
  CHECK_THROWS_AS(StockReserver(client, checked), flashsale::ConnectionError);
  CHECK(client.calls == 1);
}

TEST_CASE("every operation refuses bad input without calling the client", "[stock][unit]") {
  CountingClient client;
  StockReserver reserver(client, quiet_options());
  CHECK_THROWS_AS(reserver.reserve("deal", "h", {{"red", 1}, {"red", 2}}, 1s), InvalidArgument);
  CHECK_THROWS_AS(
      reserver.reserve("deal", "h", {{"red", 1}}, reserver.options().max_hold_ttl + 1ms),
      InvalidArgument);
  CHECK_THROWS_AS(reserver.reserve("deal", "h", {{"red", flashsale::kMaxQuantity + 1}}, 1s),
                  InvalidArgument);
  CHECK_THROWS_AS(reserver.reserve("deal", std::string(257, 'h'), {{"red", 1}}, 1s),
                  InvalidArgument);
  CHECK_THROWS_AS(reserver.confirm("de al", "h"), InvalidArgument);
  CHECK_THROWS_AS(reserver.release("deal", ""), InvalidArgument);
  CHECK_THROWS_AS(reserver.extend("deal", "h", -1ms), InvalidArgument);
  CHECK_THROWS_AS(reserver.reclaim_expired("deal", 0), InvalidArgument);
  CHECK_THROWS_AS(reserver.load("deal", {{"red", -3}}), InvalidArgument);
  CHECK_THROWS_AS(reserver.snapshot(std::string(129, 's')), InvalidArgument);
  CHECK_THROWS_AS(reserver.end_sale(""), InvalidArgument);
  CHECK_THROWS_AS(reserver.reserve("deal", "h", {{"red", 1}}, 1s,
                                   std::string(reserver.options().max_payload_bytes + 1, 'p')),
                  InvalidArgument);
  CHECK_THROWS_AS(
      reserver.restore_confirmed(
          "deal", 1,
          {{"h", {{"red", 1}}, std::string(reserver.options().max_payload_bytes + 1, 'p')}}),
      InvalidArgument);
  CHECK_THROWS_AS(reserver.load("deal", {{"red", 1}}, flashsale::LoadMode::Replace,
                                std::chrono::system_clock::time_point{} - 1ms),
                  InvalidArgument);
  CHECK(client.calls == 0);

  // Valid input does reach the client.
  CHECK_THROWS_AS(reserver.reserve("deal", "h", {{"red", 1}}, 1s), flashsale::ConnectionError);
  CHECK(client.calls == 1);
}

TEST_CASE("a hold reaper refuses bad scopes and batch sizes before starting", "[stock][unit]") {
  CountingClient client;
  StockReserver reserver(client, quiet_options());
  CHECK_THROWS_AS(flashsale::HoldReaper(reserver, {"ok", "not ok"}), InvalidArgument);
  CHECK_THROWS_AS(flashsale::HoldReaper(reserver, {"ok"}, {0ms, 10}), InvalidArgument);
  CHECK_THROWS_AS(flashsale::HoldReaper(reserver, {"ok"}, {1s, 0}), InvalidArgument);
  CHECK_THROWS_AS(flashsale::HoldReaper(reserver, {"ok"}, {1s, 1001}), InvalidArgument);
  // No scope yet is allowed (scopes are added later); a bad one added is refused.
  flashsale::HoldReaper reaper(reserver, {}, {1ms, 10});
  CHECK_THROWS_AS(reaper.add_scope("not ok"), InvalidArgument);
  CHECK_THROWS_AS(reaper.add_scope(""), InvalidArgument);
  CHECK(reaper.scopes().empty());
  reaper.stop();
  CHECK(client.calls == 0);
}
