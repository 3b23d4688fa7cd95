// The outbox store conformance suite: the contract of OutboxStore (outbox.hpp)
// checked against a real store, for the stores that ship (SqliteOutboxStore,
// PostgresOutboxStore) and for a third-party store. Header-only, Catch2.
//
// Use: implement OutboxStoreUnderTest for your store (a fresh, empty database
// per instance) and call check_outbox_store_conformance from one TEST_CASE:
//
//   TEST_CASE("my store passes the outbox store conformance suite") {
//     flashsale::testing::check_outbox_store_conformance(
//         [] { return std::make_unique<MyStoreUnderTest>(); });
//   }
//
// The suite is a set of SECTIONs; Catch2 runs the test case once per section,
// and every section makes its own store.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/outbox.hpp"
#include "flashsale/outbox_relay.hpp"

namespace flashsale::testing {

// One store under test, on a database that is empty when it is made.
class OutboxStoreUnderTest {
 public:
  virtual ~OutboxStoreUnderTest() = default;
  // The relay's side.
  virtual OutboxStore& store() = 0;
  // The host's side, on the host's own connection: `record` in one
  // transaction that commits; returns the id. Must let InvalidArgument of the
  // appender through unchanged.
  virtual std::int64_t append_committed(const NewOutboxRecord& record) = 0;
  // `record` appended in a transaction that then rolls back.
  virtual void append_rolled_back(const NewOutboxRecord& record) = 0;
  // For stores that let several relays share a database: another store
  // instance on the same database, for a second relay. nullptr (the default)
  // for a store that supports one relay; the claiming checks are skipped.
  virtual std::unique_ptr<OutboxStore> another_relay_store() { return nullptr; }
};

using OutboxStoreFactory = std::function<std::unique_ptr<OutboxStoreUnderTest>()>;

namespace conformance {

inline NewOutboxRecord record_of(std::string aggregate_id, std::string payload = "{}",
                                 std::string aggregate_type = "order") {
  return NewOutboxRecord{std::move(aggregate_type), std::move(aggregate_id), "order_placed",
                         std::move(payload)};
}

inline std::vector<std::int64_t> ids_of(const std::vector<OutboxRecord>& records) {
  std::vector<std::int64_t> ids;
  for (const auto& record : records) {
    ids.push_back(record.id);
  }
  return ids;
}

inline std::chrono::system_clock::time_point now() {
  return std::chrono::system_clock::now();
}

// Records successful publications; every `fail_every`-th call throws.
class FlakyRecordingPublisher : public OutboxPublisher {
 public:
  explicit FlakyRecordingPublisher(int fail_every) : fail_every_(fail_every) {}
  void publish(const OutboxRecord& record) override {
    if (++calls_ % fail_every_ == 0) {
      throw std::runtime_error("injected publisher failure");
    }
    published.push_back(record);
  }
  std::vector<OutboxRecord> published;

 private:
  int fail_every_;
  int calls_ = 0;
};

}  // namespace conformance

inline void check_outbox_store_conformance(const OutboxStoreFactory& make) {
  using conformance::ids_of;
  using conformance::now;
  using conformance::record_of;
  using namespace std::chrono_literals;

  SECTION("an empty store fetches nothing and lists nothing blocked") {
    auto under_test = make();
    CHECK(under_test->store().fetch_due(100, now()).empty());
    CHECK(under_test->store().list_blocked(100).empty());
  }

  SECTION("appended records keep every byte of every field and come back in id order") {
    auto under_test = make();
    const std::string binary_payload("payload\0with\xff bytes", 20);
    const std::string odd_id("id with spaces \xc3\xa9\x01", 19);
    const auto before = now();
    const auto first =
        under_test->append_committed(NewOutboxRecord{"order", odd_id, "placed", binary_payload});
    const auto second = under_test->append_committed(record_of("b", ""));
    const auto third = under_test->append_committed(record_of("c", "x", "coupon"));
    CHECK(first < second);
    CHECK(second < third);
    const auto records = under_test->store().fetch_due(100, now());
    REQUIRE(records.size() == 3);
    CHECK(ids_of(records) == std::vector<std::int64_t>{first, second, third});
    CHECK(records[0].aggregate_type == "order");
    CHECK(records[0].aggregate_id == odd_id);
    CHECK(records[0].event_type == "placed");
    CHECK(records[0].payload == binary_payload);
    CHECK(records[0].attempts == 0);
    CHECK(records[0].created_at >= before - 1s);
    CHECK(records[0].created_at <= now() + 1s);
    CHECK(records[1].payload.empty());
    CHECK(records[2].aggregate_type == "coupon");
  }

  SECTION("a record appended in a rolled-back transaction is never fetched") {
    auto under_test = make();
    under_test->append_rolled_back(record_of("gone"));
    const auto kept = under_test->append_committed(record_of("kept"));
    CHECK(ids_of(under_test->store().fetch_due(100, now())) == std::vector<std::int64_t>{kept});
  }

  SECTION("fetch_due returns at most limit records, the oldest first, again until marked") {
    auto under_test = make();
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 5; ++i) {
      ids.push_back(under_test->append_committed(record_of("aggregate-" + std::to_string(i))));
    }
    auto& store = under_test->store();
    CHECK(ids_of(store.fetch_due(2, now())) == std::vector<std::int64_t>{ids[0], ids[1]});
    CHECK(ids_of(store.fetch_due(2, now())) == std::vector<std::int64_t>{ids[0], ids[1]});
    store.mark_published_many({ids[0], ids[1]});
    CHECK(ids_of(store.fetch_due(2, now())) == std::vector<std::int64_t>{ids[2], ids[3]});
  }

  SECTION("published records are never fetched again and marking them is idempotent") {
    auto under_test = make();
    const auto a = under_test->append_committed(record_of("a"));
    const auto b = under_test->append_committed(record_of("b"));
    const auto c = under_test->append_committed(record_of("c"));
    auto& store = under_test->store();
    REQUIRE(store.fetch_due(10, now()).size() == 3);
    store.mark_published(a);
    store.mark_published(a);
    store.mark_published_many({b, a, b, 987654321});
    store.mark_published_many({});
    CHECK(ids_of(store.fetch_due(10, now())) == std::vector<std::int64_t>{c});
    store.mark_published_many({c});
    CHECK(store.fetch_due(10, now()).empty());
  }

  SECTION("a failed record waits for its retry time and holds back its own aggregate only") {
    auto under_test = make();
    const auto a1 = under_test->append_committed(record_of("a"));
    const auto a2 = under_test->append_committed(record_of("a"));
    const auto b1 = under_test->append_committed(record_of("b"));
    const auto same_id_other_type = under_test->append_committed(record_of("a", "{}", "refund"));
    auto& store = under_test->store();
    REQUIRE(store.fetch_due(10, now()).size() == 4);
    store.mark_failed(a1, "broker down", now() + 1h);
    CHECK(ids_of(store.fetch_due(10, now())) == std::vector<std::int64_t>{b1, same_id_other_type});
    const auto later = store.fetch_due(10, now() + 2h);
    REQUIRE(ids_of(later) == std::vector<std::int64_t>{a1, a2, b1, same_id_other_type});
    CHECK(later[0].attempts == 1);
    CHECK(later[1].attempts == 0);
  }

  SECTION("a blocked record is listed, holds back its aggregate, and unblocks once") {
    auto under_test = make();
    const auto a1 = under_test->append_committed(record_of("a"));
    const auto a2 = under_test->append_committed(record_of("a"));
    const auto b1 = under_test->append_committed(record_of("b"));
    auto& store = under_test->store();
    REQUIRE(store.fetch_due(10, now()).size() == 3);
    store.mark_failed(a1, "first failure", now());
    store.mark_blocked(a1, std::string("gave up\0binary", 14));
    CHECK(ids_of(store.fetch_due(10, now() + 24h)) == std::vector<std::int64_t>{b1});
    const auto blocked = store.list_blocked(10);
    REQUIRE(blocked.size() == 1);
    CHECK(blocked[0].record.id == a1);
    CHECK(blocked[0].record.attempts == 2);
    CHECK(blocked[0].last_error == std::string("gave up\0binary", 14));
    CHECK(store.list_blocked(0).empty());
    CHECK_FALSE(store.unblock(b1));
    CHECK_FALSE(store.unblock(987654321));
    CHECK(store.unblock(a1));
    CHECK_FALSE(store.unblock(a1));
    const auto due = store.fetch_due(10, now());
    REQUIRE(ids_of(due) == std::vector<std::int64_t>{a1, a2, b1});
    CHECK(due[0].attempts == 0);
    CHECK(store.list_blocked(10).empty());
  }

  SECTION("failing or blocking a published record changes nothing") {
    auto under_test = make();
    const auto a1 = under_test->append_committed(record_of("a"));
    auto& store = under_test->store();
    REQUIRE(store.fetch_due(10, now()).size() == 1);
    store.mark_published(a1);
    store.mark_failed(a1, "late failure", now() + 1h);
    store.mark_blocked(a1, "late block");
    CHECK(store.list_blocked(10).empty());
    CHECK_FALSE(store.unblock(a1));
    const auto a2 = under_test->append_committed(record_of("a"));
    CHECK(ids_of(store.fetch_due(10, now())) == std::vector<std::int64_t>{a2});
  }

  SECTION("bad ids and bad records are refused before anything is written") {
    auto under_test = make();
    auto& store = under_test->store();
    CHECK_THROWS_AS(store.mark_published(0), InvalidArgument);
    CHECK_THROWS_AS(store.mark_published_many({1, -1}), InvalidArgument);
    CHECK_THROWS_AS(store.mark_failed(0, "x", now()), InvalidArgument);
    CHECK_THROWS_AS(store.mark_blocked(-5, "x"), InvalidArgument);
    CHECK_THROWS_AS(store.unblock(0), InvalidArgument);
    CHECK_THROWS_AS(under_test->append_committed(record_of("")), InvalidArgument);
    CHECK_THROWS_AS(under_test->append_committed(record_of("a", "{}", "has space")),
                    InvalidArgument);
    CHECK_THROWS_AS(under_test->append_committed(record_of(std::string(129, 'x'))),
                    InvalidArgument);
    CHECK(store.fetch_due(10, now()).empty());
  }

  SECTION("a relay over the store publishes every record, in id order per aggregate") {
    auto under_test = make();
    std::map<std::string, std::vector<std::int64_t>> appended;
    for (int i = 0; i < 60; ++i) {
      const auto aggregate = "aggregate-" + std::to_string(i % 7);
      appended[aggregate].push_back(under_test->append_committed(record_of(aggregate)));
    }
    conformance::FlakyRecordingPublisher publisher(3);
    OutboxRelayOptions options;
    options.batch_size = 8;
    options.backoff_base = 1ms;
    options.backoff_max = 2ms;
    options.max_attempts = 1000;
    OutboxRelay relay(under_test->store(), publisher, options);
    for (int pass = 0; pass < 2000 && publisher.published.size() < 60; ++pass) {
      if (relay.relay_once().fetched == 0) {
        std::this_thread::sleep_for(2ms);
      }
    }
    std::map<std::string, std::vector<std::int64_t>> published;
    for (const auto& record : publisher.published) {
      published[record.aggregate_id].push_back(record.id);
    }
    CHECK(published == appended);
    CHECK(under_test->store().fetch_due(100, now() + 1h).empty());
  }

  SECTION("a second relay's store never fetches an aggregate the first one holds") {
    auto under_test = make();
    auto second = under_test->another_relay_store();
    if (!second) {
      SUCCEED("the store supports one relay; nothing to claim");
      return;
    }
    auto& first = under_test->store();
    const auto a1 = under_test->append_committed(record_of("a"));
    const auto a2 = under_test->append_committed(record_of("a"));
    const auto b1 = under_test->append_committed(record_of("b"));
    // A limited fetch holds only the aggregates it returned.
    CHECK(ids_of(first.fetch_due(1, now())) == std::vector<std::int64_t>{a1});
    CHECK(ids_of(second->fetch_due(10, now())) == std::vector<std::int64_t>{b1});
    CHECK(first.fetch_due(10, now()).empty() == false);  // releases, claims a again
    const auto a3 = under_test->append_committed(record_of("a"));
    const auto c1 = under_test->append_committed(record_of("c"));
    CHECK(ids_of(second->fetch_due(10, now())) == std::vector<std::int64_t>{b1, c1});
    // Once the first relay has marked its batch and fetches again, the
    // aggregate it no longer needs is free for the second.
    first.mark_published_many({a1, a2, a3});
    CHECK(first.fetch_due(10, now()).empty());
    const auto a4 = under_test->append_committed(record_of("a"));
    CHECK(ids_of(second->fetch_due(10, now())) == std::vector<std::int64_t>{b1, c1, a4});
    CHECK(first.fetch_due(10, now()).empty());
  }
}

}  // namespace flashsale::testing
