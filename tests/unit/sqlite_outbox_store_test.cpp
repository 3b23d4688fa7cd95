// SqliteOutboxStore on a real database file, driven by OutboxRelay with an
// in-memory publisher: ordering, backoff, blocking, rollback, validation.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../redis/outbox_test_support.hpp"
#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/log.hpp"
#include "flashsale/outbox_relay.hpp"
#include "flashsale/sqlite_outbox_store.hpp"

using namespace std::chrono_literals;
using flashsale::NewOutboxRecord;
using flashsale::OutboxRecord;
using flashsale::OutboxRelay;
using flashsale::OutboxRelayOptions;
using flashsale::SqliteOutboxStore;
using flashsale::testing::HostDatabase;
using flashsale::testing::TemporaryDirectory;

namespace {

// Records what it was given; fails for the aggregates and counts it is told.
class RecordingPublisher : public flashsale::OutboxPublisher {
 public:
  void publish(const OutboxRecord& record) override {
    auto failures = failures_left.find(record.aggregate_id);
    if (failures != failures_left.end() && failures->second > 0) {
      --failures->second;
      throw std::runtime_error("broker unavailable for " + record.aggregate_id);
    }
    published.push_back(record);
  }
  std::map<std::string, int> failures_left;
  std::vector<OutboxRecord> published;
};

// Remembers the relay's clock and the retry times it asked for.
class RecordingStore : public flashsale::testing::ForwardingOutboxStore {
 public:
  using ForwardingOutboxStore::ForwardingOutboxStore;
  std::vector<OutboxRecord> fetch_due(std::size_t limit,
                                      std::chrono::system_clock::time_point now) override {
    last_now = now;
    return ForwardingOutboxStore::fetch_due(limit, now);
  }
  void mark_failed(std::int64_t id, std::string_view error,
                   std::chrono::system_clock::time_point next_attempt_at) override {
    retry_delays.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_at - last_now));
    ForwardingOutboxStore::mark_failed(id, error, next_attempt_at);
  }

  std::chrono::system_clock::time_point last_now;
  std::vector<std::chrono::milliseconds> retry_delays;
};

// Fails the first `failures` fetches, as a database that is locked or gone would.
class UnavailableStore : public flashsale::testing::ForwardingOutboxStore {
 public:
  UnavailableStore(flashsale::OutboxStore& inner, int failures)
      : ForwardingOutboxStore(inner), failures_left_(failures) {}
  std::vector<OutboxRecord> fetch_due(std::size_t limit,
                                      std::chrono::system_clock::time_point now) override {
    if (failures_left_ > 0) {
      --failures_left_;
      throw flashsale::TimeoutError("database is locked");
    }
    return ForwardingOutboxStore::fetch_due(limit, now);
  }

 private:
  std::atomic<int> failures_left_;
};

std::vector<std::int64_t> ids_of(const std::vector<OutboxRecord>& records) {
  std::vector<std::int64_t> ids;
  for (const auto& record : records) {
    ids.push_back(record.id);
  }
  return ids;
}

OutboxRelayOptions fast_options() {
  OutboxRelayOptions options;
  options.poll_interval = 5ms;
  options.backoff_base = 20ms;
  options.backoff_max = 10s;
  options.max_attempts = 100;
  return options;
}

}  // namespace

TEST_CASE("a record appended in a transaction that rolls back is never fetched or published",
          "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));

  host.execute("BEGIN");
  host.execute("INSERT INTO orders VALUES ('rolled-back', 5)");
  SqliteOutboxStore::append(host.handle(), {"order", "rolled-back", "order_placed", "{}"});
  host.execute("ROLLBACK");
  const auto kept = host.place_order("kept", "order_placed");

  RecordingPublisher publisher;
  OutboxRelay relay(store, publisher, fast_options());
  const auto report = relay.relay_once();
  CHECK(report.fetched == 1);
  CHECK(report.published == 1);
  REQUIRE(publisher.published.size() == 1);
  CHECK(publisher.published[0].id == kept);
  CHECK(publisher.published[0].aggregate_id == "kept");
  CHECK(relay.relay_once().fetched == 0);
  CHECK(store.counts().pending == 0);
  CHECK(store.counts().published == 1);
}

TEST_CASE("a rolled-back append's id is handed out again but a committed id never is", "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));
  const auto first = host.place_order("A", "a1");
  host.execute("BEGIN");
  const auto rolled_back =
      SqliteOutboxStore::append(host.handle(), {"order", "gone", "order_placed", "{}"});
  host.execute("ROLLBACK");
  CHECK(rolled_back == first + 1);
  // The rollback also undid the AUTOINCREMENT counter: the id comes again.
  // Harmless: the rolled-back record never existed for the relay.
  const auto second = host.place_order("B", "b1");
  CHECK(second == rolled_back);
  // Committed ids stay used even when every row is purged.
  store.mark_published(first);
  store.mark_published(second);
  CHECK(store.purge_published(std::chrono::system_clock::now() + 1s, 10) == 2);
  CHECK(host.place_order("C", "c1") == second + 1);
}

TEST_CASE("appended records keep every field and are fetched in id order", "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));
  const std::string binary_payload("a\0b\xff", 4);
  const auto before = std::chrono::system_clock::now() - 1s;
  const auto first =
      SqliteOutboxStore::append(host.handle(), {"order", "o-1", "order_placed", binary_payload});
  const auto second =
      SqliteOutboxStore::append(host.handle(), {"coupon", "c-1", "coupon_issued", ""});
  CHECK(second > first);

  const auto records = store.fetch_due(10, std::chrono::system_clock::now());
  REQUIRE(ids_of(records) == std::vector<std::int64_t>{first, second});
  CHECK(records[0].aggregate_type == "order");
  CHECK(records[0].aggregate_id == "o-1");
  CHECK(records[0].event_type == "order_placed");
  CHECK(records[0].payload == binary_payload);
  CHECK(records[0].attempts == 0);
  CHECK(records[0].created_at >= before);
  CHECK(records[1].payload.empty());
  CHECK(ids_of(store.fetch_due(1, std::chrono::system_clock::now())) ==
        std::vector<std::int64_t>{first});
}

TEST_CASE("a failing record holds back later records of its aggregate only", "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));
  const auto a1 = host.place_order("A", "a1");
  const auto b1 = host.place_order("B", "b1");
  const auto a2 = host.place_order("A", "a2");
  const auto b2 = host.place_order("B", "b2");

  RecordingPublisher publisher;
  publisher.failures_left["A"] = 1;
  auto options = fast_options();
  options.backoff_base = 1h;
  options.backoff_max = 1h;
  OutboxRelay relay(store, publisher, options);

  const auto first = relay.relay_once();
  CHECK(first.fetched == 4);
  CHECK(first.failed == 1);
  CHECK(first.held_back == 1);
  CHECK(first.published == 2);
  CHECK(ids_of(publisher.published) == std::vector<std::int64_t>{b1, b2});

  // Across batches: a2 is not even fetched while a1 waits for its retry.
  const auto now = std::chrono::system_clock::now();
  CHECK(store.fetch_due(10, now).empty());
  const auto a1_status = store.status(a1);
  REQUIRE(a1_status.has_value());
  CHECK(a1_status->record.attempts == 1);
  CHECK(a1_status->last_error == "broker unavailable for A");
  CHECK(a1_status->next_attempt_at > now + 30min);
  CHECK(a1_status->state == flashsale::OutboxRecordState::Pending);

  // Once a1 is due, a1 and a2 come back together, a1 first.
  CHECK(ids_of(store.fetch_due(10, now + 2h)) == std::vector<std::int64_t>{a1, a2});
  CHECK(ids_of(store.fetch_due(1, now + 2h)) == std::vector<std::int64_t>{a1});
  // A record of A appended later is held back too.
  const auto a3 = host.place_order("A", "a3");
  CHECK(store.fetch_due(10, now).empty());
  CHECK(ids_of(store.fetch_due(10, now + 2h)) == std::vector<std::int64_t>{a1, a2, a3});
}

TEST_CASE("a publisher that fails N times then recovers is retried with growing delays",
          "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore inner(directory.file("app.db"));
  RecordingStore store(inner);
  HostDatabase host(directory.file("app.db"));
  const auto first = host.place_order("A", "a1");
  const auto second = host.place_order("A", "a2");

  constexpr int kFailures = 5;
  RecordingPublisher publisher;
  publisher.failures_left["A"] = kFailures;
  auto options = fast_options();
  options.backoff_base = 10ms;
  options.jitter = 0.5;
  OutboxRelay relay(store, publisher, options);

  int passes = 0;
  while (publisher.published.size() < 2) {
    REQUIRE(++passes < 10000);
    const auto report = relay.relay_once();
    if (report.fetched == 0) {
      std::this_thread::sleep_for(2ms);
    } else {
      CHECK(report.blocked == 0);
    }
  }
  CHECK(ids_of(publisher.published) == std::vector<std::int64_t>{first, second});
  REQUIRE(store.retry_delays.size() == kFailures);
  for (std::size_t attempt = 0; attempt < store.retry_delays.size(); ++attempt) {
    const auto full = 10ms * (1 << attempt);
    CAPTURE(attempt, store.retry_delays[attempt].count());
    CHECK(store.retry_delays[attempt] <= full);
    CHECK(store.retry_delays[attempt] >= full / 2);
    if (attempt > 0) {
      CHECK(store.retry_delays[attempt] >= store.retry_delays[attempt - 1]);
    }
  }
  CHECK(store.retry_delays.back() > store.retry_delays.front() * 4);
  CHECK(inner.status(first)->record.attempts == kFailures);
  CHECK(inner.status(first)->state == flashsale::OutboxRecordState::Published);
  CHECK(inner.status(first)->published_at.has_value());
}

TEST_CASE("backoff delays grow by doubling up to the cap", "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  RecordingPublisher publisher;
  OutboxRelayOptions options;
  options.backoff_base = 100ms;
  options.backoff_max = 1s;
  options.jitter = 0;
  OutboxRelay relay(store, publisher, options);
  CHECK(relay.backoff_delay(1) == 100ms);
  CHECK(relay.backoff_delay(2) == 200ms);
  CHECK(relay.backoff_delay(4) == 800ms);
  CHECK(relay.backoff_delay(5) == 1s);
  CHECK(relay.backoff_delay(1000) == 1s);
}

TEST_CASE("after max_attempts a record is blocked, listed, holds its aggregate and unblocks",
          "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));
  const auto a1 = host.place_order("A", "a1");
  const auto a2 = host.place_order("A", "a2");
  const auto b1 = host.place_order("B", "b1");

  RecordingPublisher publisher;
  publisher.failures_left["A"] = 1000;
  auto options = fast_options();
  options.backoff_base = 1ms;
  options.backoff_max = 1ms;
  options.max_attempts = 3;
  OutboxRelay relay(store, publisher, options);

  std::size_t failed = 0;
  std::size_t blocked = 0;
  for (int pass = 0; pass < 1000 && blocked == 0; ++pass) {
    const auto report = relay.relay_once();
    failed += report.failed;
    blocked += report.blocked;
    std::this_thread::sleep_for(2ms);
  }
  CHECK(failed == 2);
  CHECK(blocked == 1);
  CHECK(ids_of(publisher.published) == std::vector<std::int64_t>{b1});

  const auto listed = store.list_blocked(10);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].record.id == a1);
  CHECK(listed[0].record.attempts == 3);
  CHECK(listed[0].last_error == "broker unavailable for A");
  CHECK(store.status(a1)->state == flashsale::OutboxRecordState::Blocked);
  CHECK(store.counts().blocked == 1);
  // Blocked: nothing of A is fetched, however late.
  CHECK(store.fetch_due(10, std::chrono::system_clock::now() + 24h).empty());
  CHECK(relay.relay_once().fetched == 0);

  CHECK_FALSE(store.unblock(a2));  // pending, not blocked
  CHECK_FALSE(store.unblock(999));
  publisher.failures_left["A"] = 0;
  CHECK(store.unblock(a1));
  CHECK_FALSE(store.unblock(a1));  // already unblocked
  CHECK(store.list_blocked(10).empty());
  CHECK(store.status(a1)->record.attempts == 0);
  const auto report = relay.relay_once();
  CHECK(report.published == 2);
  CHECK(ids_of(publisher.published) == std::vector<std::int64_t>{b1, a1, a2});
}

TEST_CASE("marking published is idempotent and published records can be purged", "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));
  const auto first = host.place_order("A", "a1");
  const auto second = host.place_order("B", "b1");
  store.mark_published(first);
  store.mark_published(first);
  CHECK(store.counts().published == 1);
  CHECK(ids_of(store.fetch_due(10, std::chrono::system_clock::now())) ==
        std::vector<std::int64_t>{second});
  CHECK(store.purge_published(std::chrono::system_clock::now() - 1h, 10) == 0);
  CHECK(store.purge_published(std::chrono::system_clock::now() + 1s, 10) == 1);
  CHECK_FALSE(store.status(first).has_value());
  CHECK(store.status(second).has_value());
  // Ids are never reused after a purge.
  CHECK(host.place_order("C", "c1") > second);
}

TEST_CASE("invalid records and options are refused before anything is written", "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));
  using flashsale::InvalidArgument;
  CHECK_THROWS_AS(SqliteOutboxStore::append(host.handle(), {"", "a", "e", ""}), InvalidArgument);
  CHECK_THROWS_AS(SqliteOutboxStore::append(host.handle(), {"has space", "a", "e", ""}),
                  InvalidArgument);
  CHECK_THROWS_AS(SqliteOutboxStore::append(host.handle(), {"{tag}", "a", "e", ""}),
                  InvalidArgument);
  CHECK_THROWS_AS(SqliteOutboxStore::append(host.handle(), {"order", "", "e", ""}),
                  InvalidArgument);
  CHECK_THROWS_AS(SqliteOutboxStore::append(host.handle(), {"order", "a", "", ""}),
                  InvalidArgument);
  CHECK_THROWS_AS(
      SqliteOutboxStore::append(host.handle(), {"order", std::string(129, 'a'), "e", ""}),
      InvalidArgument);
  CHECK(store.counts().pending == 0);
  CHECK_THROWS_AS(store.mark_published(0), InvalidArgument);

  RecordingPublisher publisher;
  const auto refused = [&](auto change) {
    OutboxRelayOptions options;
    change(options);
    CHECK_THROWS_AS(OutboxRelay(store, publisher, options), InvalidArgument);
  };
  refused([](OutboxRelayOptions& options) { options.batch_size = 0; });
  refused([](OutboxRelayOptions& options) { options.poll_interval = 0ms; });
  refused([](OutboxRelayOptions& options) { options.backoff_base = 0ms; });
  refused([](OutboxRelayOptions& options) { options.backoff_max = options.backoff_base / 2; });
  refused([](OutboxRelayOptions& options) { options.jitter = 0.6; });
  refused([](OutboxRelayOptions& options) { options.max_attempts = 0; });
}

TEST_CASE("a store on a path that cannot be opened raises ConnectionError", "[outbox]") {
  CHECK_THROWS_AS(SqliteOutboxStore("/nonexistent-directory/for/sure/app.db"),
                  flashsale::ConnectionError);
}

TEST_CASE("a write lock held past the busy timeout raises TimeoutError", "[outbox]") {
  TemporaryDirectory directory;
  flashsale::SqliteOutboxStoreOptions options;
  options.busy_timeout = 50ms;
  SqliteOutboxStore store(directory.file("app.db"), options);
  HostDatabase host(directory.file("app.db"));
  const auto id = host.place_order("A", "a1");
  host.execute("BEGIN IMMEDIATE");
  CHECK_THROWS_AS(store.mark_published(id), flashsale::TimeoutError);
  host.execute("ROLLBACK");
  store.mark_published(id);
  CHECK(store.status(id)->state == flashsale::OutboxRecordState::Published);
}

TEST_CASE("run relays records appended while it runs and returns promptly after stop", "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));
  RecordingPublisher publisher;
  auto options = fast_options();
  options.batch_size = 7;
  OutboxRelay relay(store, publisher, options);
  std::thread runner([&] { relay.run(); });

  constexpr int kRecords = 200;
  for (int index = 0; index < kRecords; ++index) {
    host.place_order("agg-" + std::to_string(index % 5), "e" + std::to_string(index));
  }
  for (int wait = 0; wait < 2000 && store.counts().pending > 0; ++wait) {
    std::this_thread::sleep_for(10ms);
  }
  relay.stop();
  runner.join();
  CHECK(store.counts().pending == 0);
  REQUIRE(publisher.published.size() == kRecords);
  std::map<std::string, std::int64_t> last_id;
  for (const auto& record : publisher.published) {
    CHECK(record.id > last_id[record.aggregate_id]);
    last_id[record.aggregate_id] = record.id;
  }

  // stop() wakes a relay that waits for a long poll interval.
  options.poll_interval = 1h;
  OutboxRelay sleepy(store, publisher, options);
  std::thread sleeper([&] { sleepy.run(); });
  std::this_thread::sleep_for(20ms);
  sleepy.stop();
  sleeper.join();
}

TEST_CASE("run logs store failures, backs off and carries on when the store recovers", "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore inner(directory.file("app.db"));
  UnavailableStore store(inner, 3);
  HostDatabase host(directory.file("app.db"));
  const auto id = host.place_order("A", "a1");

  std::mutex warnings_mutex;
  std::vector<std::string> warnings;
  flashsale::set_log_sink([&](flashsale::LogLevel, std::string_view message) {
    const std::lock_guard<std::mutex> lock(warnings_mutex);
    warnings.emplace_back(message);
  });
  RecordingPublisher publisher;
  auto options = fast_options();
  options.backoff_base = 1ms;
  OutboxRelay relay(store, publisher, options);
  std::thread runner([&] { relay.run(); });
  for (int wait = 0; wait < 2000 && inner.counts().pending > 0; ++wait) {
    std::this_thread::sleep_for(5ms);
  }
  relay.stop();
  runner.join();
  flashsale::set_log_sink({});

  CHECK(inner.status(id)->state == flashsale::OutboxRecordState::Published);
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0].find("database is locked") != std::string::npos);
  CHECK(warnings[2].find("3 in a row") != std::string::npos);
}

namespace {

// Fails its first fetches with exceptions outside flashsale::Error: a
// std::runtime_error, then something that is not a std::exception at all.
class ForeignFailureStore : public flashsale::testing::ForwardingOutboxStore {
 public:
  using ForwardingOutboxStore::ForwardingOutboxStore;
  std::vector<OutboxRecord> fetch_due(std::size_t limit,
                                      std::chrono::system_clock::time_point now) override {
    const int call = ++calls_;
    if (call == 1) {
      throw std::runtime_error("driver exploded");
    }
    if (call == 2) {
      throw 42;
    }
    return ForwardingOutboxStore::fetch_due(limit, now);
  }

 private:
  std::atomic<int> calls_{0};
};

// Throws something that is not a std::exception on its first call.
class ForeignFailurePublisher : public flashsale::OutboxPublisher {
 public:
  void publish(const OutboxRecord& record) override {
    if (++calls == 1) {
      throw 7;
    }
    published.push_back(record.id);
  }
  int calls = 0;
  std::vector<std::int64_t> published;
};

}  // namespace

TEST_CASE("run survives any exception of the store or the publisher, logs it and backs off",
          "[outbox]") {
  TemporaryDirectory directory;
  SqliteOutboxStore inner(directory.file("app.db"));
  ForeignFailureStore store(inner);
  HostDatabase host(directory.file("app.db"));
  const auto id = host.place_order("A", "a1");

  std::mutex warnings_mutex;
  std::vector<std::string> warnings;
  flashsale::set_log_sink([&](flashsale::LogLevel, std::string_view message) {
    const std::lock_guard<std::mutex> lock(warnings_mutex);
    warnings.emplace_back(message);
  });
  ForeignFailurePublisher publisher;
  auto options = fast_options();
  options.backoff_base = 1ms;
  OutboxRelay relay(store, publisher, options);
  std::thread runner([&] { relay.run(); });
  for (int wait = 0; wait < 2000 && inner.counts().pending > 0; ++wait) {
    std::this_thread::sleep_for(5ms);
  }
  relay.stop();
  runner.join();
  flashsale::set_log_sink({});

  CHECK(inner.status(id)->state == flashsale::OutboxRecordState::Published);
  CHECK(inner.status(id)->record.attempts == 1);
  CHECK(inner.status(id)->last_error == "an exception not derived from std::exception");
  CHECK(publisher.published == std::vector<std::int64_t>{id});
  REQUIRE(warnings.size() >= 2);
  CHECK(warnings[0].find("driver exploded") != std::string::npos);
  CHECK(warnings[1].find("not derived from std::exception") != std::string::npos);
}
