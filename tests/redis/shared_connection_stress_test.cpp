// The components' invariants when their client auto-pipelines (two shared
// connections for 32 threads): a first-come coupon race issues exactly the
// coupon count, once per user, sequences 1..N, also while the script cache is
// flushed; a stock reserve race never oversells and keeps
// initial = available + held + confirmed in every snapshot.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"
#include "shared_connection_test_support.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::IssueResult;
using flashsale::IssueStatus;
using flashsale::testing::RedisServer;
using flashsale::testing::shared_connection::connections_received;
using flashsale::testing::shared_connection::make_shared_client;
using flashsale::testing::shared_connection::on_threads;
using flashsale::testing::shared_connection::ThreadGroup;

namespace {

constexpr int kThreads = 32;
constexpr std::size_t kSharedConnections = 2;

// Runs `call(index)` for index 0..calls-1 on kThreads threads, in chunks, and
// returns the messages of the flashsale errors they threw.
template <typename Call>
std::vector<std::string> run_calls_on_threads(int calls, Call call) {
  std::atomic<int> next{0};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  on_threads(kThreads, [&](int) {
    constexpr int kChunk = 32;
    for (int first = next.fetch_add(kChunk); first < calls; first = next.fetch_add(kChunk)) {
      for (int index = first; index < std::min(first + kChunk, calls); ++index) {
        try {
          call(index);
        } catch (const flashsale::Error& error) {
          const std::lock_guard<std::mutex> lock(errors_mutex);
          errors.emplace_back(error.what());
        }
      }
    }
  });
  return errors;
}

// --- the coupon race -------------------------------------------------------

constexpr int kUsers = 20'000;
constexpr int kCalls = kUsers * 5;  // five tries per user
constexpr std::int64_t kCoupons = 5'000;
const std::string kCoupon = "shared-race";

std::string user_name(int user) {
  return "user-" + std::to_string(user);
}

// kThreads threads issue kCalls times (call i for user i % kUsers) through a
// client with kSharedConnections shared connections; `background` runs on
// its own thread meanwhile. Checks every invariant of the race.
template <typename Background>
void check_coupon_race(RedisServer& server, Background background) {
  const long long connections_before = connections_received(server);
  auto client = make_shared_client(server, kSharedConnections);
  flashsale::FirstComeCouponIssuer issuer(*client);
  const auto now = flashsale::testing::server_now(*client);
  flashsale::CouponTemplate coupon;
  coupon.id = kCoupon;
  coupon.total = kCoupons;
  coupon.opens_at = now - 1h;
  coupon.closes_at = now + 24h;
  REQUIRE(issuer.register_template(coupon).status == flashsale::RegisterStatus::Created);

  std::vector<IssueResult> results(kCalls);
  std::atomic<bool> done{false};
  ThreadGroup background_thread(1, [&](int) { background(done); });
  const auto errors = run_calls_on_threads(
      kCalls, [&](int call) { results[call] = issuer.issue(kCoupon, user_name(call % kUsers)); });
  done = true;
  background_thread.join();
  INFO((errors.empty() ? std::string() : errors.front()));
  REQUIRE(errors.empty());

  // First pass: who was issued which sequence.
  std::vector<std::int64_t> sequence_of_user(kUsers, 0);
  int issued = 0;
  int issued_twice = 0;
  std::set<std::int64_t> sequences;
  for (int call = 0; call < kCalls; ++call) {
    if (results[call].status == IssueStatus::Issued) {
      ++issued;
      issued_twice += sequence_of_user[call % kUsers] != 0 ? 1 : 0;
      sequence_of_user[call % kUsers] = results[call].sequence;
      sequences.insert(results[call].sequence);
    }
  }
  // Second pass: every other answer agrees with the first.
  int disagreeing = 0;
  for (int call = 0; call < kCalls; ++call) {
    const auto& result = results[call];
    const bool agrees = result.status == IssueStatus::Issued ||
                        (result.status == IssueStatus::AlreadyIssued &&
                         result.sequence == sequence_of_user[call % kUsers]) ||
                        (result.status == IssueStatus::SoldOut && result.remaining == 0 &&
                         sequence_of_user[call % kUsers] == 0);
    disagreeing += agrees && result.remaining >= 0 ? 0 : 1;
  }
  CHECK(issued == kCoupons);
  CHECK(issued_twice == 0);
  CHECK(disagreeing == 0);
  CHECK(sequences.size() == static_cast<std::size_t>(kCoupons));
  CHECK(*sequences.begin() == 1);
  CHECK(*sequences.rbegin() == kCoupons);

  const auto stats = issuer.stats(kCoupon);
  REQUIRE(stats.has_value());
  CHECK(stats->issued == kCoupons);
  CHECK(stats->remaining == 0);
  // The events stream names the same user for every sequence.
  const auto events =
      flashsale::testing::read_stream(*client, "fs:coupon:{" + kCoupon + "}:events");
  CHECK(events.size() == static_cast<std::size_t>(kCoupons));
  int wrong_events = 0;
  for (const auto& event : events) {
    const auto& fields = event.fields;
    const int user = std::stoi(fields.at("user").substr(5));
    wrong_events += fields.at("type") == "issued" &&
                            std::to_string(sequence_of_user.at(user)) == fields.at("sequence")
                        ? 0
                        : 1;
  }
  CHECK(wrong_events == 0);
  // All of it went over the shared connections: the client opened no other.
  CHECK(connections_received(server) - connections_before <=
        static_cast<long long>(kSharedConnections));
}

// --- the stock race --------------------------------------------------------

constexpr int kSkus = 8;
constexpr std::int64_t kUnitsPerSku = 5'000;
constexpr int kReserves = 100'000;
const std::string kScope = "shared-race";
using Units = std::array<std::int64_t, kSkus>;

std::string sku_name(int index) {
  return "sku-" + std::to_string(index);
}

// Reserve `index`: one or two SKUs, 1..3 units each, spread over all SKUs.
std::vector<flashsale::StockItem> cart_of(int index) {
  const std::int64_t quantity = 1 + index % 3;
  std::vector<flashsale::StockItem> cart{{sku_name(index % kSkus), quantity}};
  if (index % 2 == 1) {
    cart.push_back({sku_name((index + 3) % kSkus), quantity});
  }
  return cart;
}

void add_cart(Units& units, int index) {
  for (const auto& item : cart_of(index)) {
    units[std::stoi(item.sku.substr(4))] += item.quantity;
  }
}

}  // namespace

TEST_CASE(
    "32 threads over two shared connections, 100,000 issue calls from 20,000 users - exactly "
    "5,000 issued, once each, sequences 1..5,000",
    "[shared-connection][stress]") {
  RedisServer server;
  check_coupon_race(server, [](const std::atomic<bool>&) {});
}

TEST_CASE("the same coupon race over shared connections with SCRIPT FLUSH every 50 ms",
          "[shared-connection][stress]") {
  RedisServer server;
  // The admin flushes: its connection is open already, so the check that the
  // race opened no more connections than the shared ones still holds.
  auto& admin = server.admin();
  int flushes = 0;
  check_coupon_race(server, [&](const std::atomic<bool>& done) {
    while (!done) {
      std::this_thread::sleep_for(50ms);
      admin.execute({{"SCRIPT", "FLUSH"}, {}, {}});
      ++flushes;
    }
  });
  INFO("flushes " << flushes);
  CHECK(flushes >= 3);
}

TEST_CASE(
    "32 threads over two shared connections, 100,000 reserves: never oversold, and every "
    "snapshot keeps initial = available + held + confirmed",
    "[shared-connection][stress]") {
  RedisServer server;
  const long long connections_before = connections_received(server);
  auto client = make_shared_client(server, kSharedConnections);
  flashsale::StockReserver reserver(*client);
  std::vector<flashsale::StockItem> stock;
  for (int sku = 0; sku < kSkus; ++sku) {
    stock.push_back({sku_name(sku), kUnitsPerSku});
  }
  REQUIRE(reserver.load(kScope, stock).status == flashsale::LoadStatus::Loaded);

  // Per reserve index (each written by one thread): its status and whether
  // it was then confirmed or released; summed per SKU at the end.
  std::vector<flashsale::ReserveStatus> reserved(kReserves, flashsale::ReserveStatus::UnknownSku);
  std::vector<int> settled(kReserves, 0);  // 1 confirmed, -1 released
  std::atomic<int> unexpected{0};
  std::atomic<bool> done{false};
  std::atomic<int> snapshots{0};
  std::atomic<int> broken_snapshots{0};
  ThreadGroup sampler(1, [&](int) {
    flashsale::StandaloneClient own_client(server.connection_options());
    flashsale::StockReserver observer(own_client);
    while (!done) {
      bool holds = true;
      for (const auto& sku : observer.snapshot(kScope).skus) {
        holds = holds && sku.available >= 0 && sku.held >= 0 && sku.confirmed >= 0 &&
                sku.initial == sku.available + sku.held + sku.confirmed;
      }
      broken_snapshots += holds ? 0 : 1;
      ++snapshots;
      std::this_thread::sleep_for(2ms);
    }
  });
  const auto errors = run_calls_on_threads(kReserves, [&](int index) {
    const std::string hold_id = "hold-" + std::to_string(index);
    reserved[index] = reserver.reserve(kScope, hold_id, cart_of(index), 30min).status;
    if (reserved[index] != flashsale::ReserveStatus::Reserved) {
      unexpected += reserved[index] == flashsale::ReserveStatus::InsufficientStock ? 0 : 1;
    } else if (index % 4 == 0) {
      const auto status = reserver.confirm(kScope, hold_id).status;
      unexpected += status == flashsale::ConfirmStatus::Confirmed ? 0 : 1;
      settled[index] = 1;
    } else if (index % 4 == 1) {
      const auto status = reserver.release(kScope, hold_id).status;
      unexpected += status == flashsale::ReleaseStatus::Released ? 0 : 1;
      settled[index] = -1;
    }
  });
  done = true;
  sampler.join();
  INFO((errors.empty() ? std::string() : errors.front()));
  REQUIRE(errors.empty());
  CHECK(unexpected == 0);
  INFO("snapshots " << snapshots);
  CHECK(snapshots > 0);
  CHECK(broken_snapshots == 0);

  Units held{};
  Units confirmed{};
  int insufficient = 0;
  for (int index = 0; index < kReserves; ++index) {
    if (reserved[index] != flashsale::ReserveStatus::Reserved) {
      ++insufficient;
    } else if (settled[index] == 1) {
      add_cart(confirmed, index);
    } else if (settled[index] == 0) {
      add_cart(held, index);
    }
  }
  CHECK(insufficient > 0);  // the stock ran out: the threads really competed
  const auto snapshot = reserver.snapshot(kScope);
  REQUIRE(snapshot.skus.size() == static_cast<std::size_t>(kSkus));
  for (int sku = 0; sku < kSkus; ++sku) {
    const auto figures = flashsale::testing::stock::figures_of(snapshot, sku_name(sku));
    INFO(sku_name(sku));
    CHECK(figures.initial == kUnitsPerSku);
    CHECK(figures.available >= 0);
    CHECK(figures.held == held[sku]);
    CHECK(figures.confirmed == confirmed[sku]);
    CHECK(figures.available + figures.held + figures.confirmed == kUnitsPerSku);
  }
  CHECK(connections_received(server) - connections_before <=
        static_cast<long long>(kSharedConnections) + 1);  // + the sampler's own client
}
