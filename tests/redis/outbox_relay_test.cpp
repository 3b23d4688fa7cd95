// RedisStreamPublisher and OutboxRelay against a real redis-server and a real
// SQLite file: at-most-once publication per outbox id, NOSCRIPT and restarts,
// bad input, dedup retention, and the relay end to end with failures.
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/outbox_relay.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/script.hpp"
#include "flashsale/sqlite_outbox_store.hpp"
#include "outbox_test_support.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using flashsale::OutboxRecord;
using flashsale::OutboxRelay;
using flashsale::RedisStreamPublisher;
using flashsale::RedisStreamPublisherOptions;
using flashsale::SqliteOutboxStore;
using flashsale::testing::HostDatabase;
using flashsale::testing::outbox_id_of;
using flashsale::testing::read_stream;
using flashsale::testing::RedisServer;
using flashsale::testing::TemporaryDirectory;

namespace {

OutboxRecord make_record(std::int64_t id, std::string aggregate_type = "order",
                         std::string aggregate_id = "o-1") {
  OutboxRecord record;
  record.id = id;
  record.aggregate_type = std::move(aggregate_type);
  record.aggregate_id = std::move(aggregate_id);
  record.event_type = "order_placed";
  record.payload = "{\"total\":" + std::to_string(id) + "}";
  record.created_at = std::chrono::system_clock::time_point(1700000000123ms);
  return record;
}

long long key_count(flashsale::Client& client, const std::string& type, const std::string& key) {
  return client.execute({{type, key}, key, {}}).as_integer();
}

// Fails the first `failures` calls, then delegates.
class FailingThenRecoveringPublisher : public flashsale::OutboxPublisher {
 public:
  FailingThenRecoveringPublisher(flashsale::OutboxPublisher& inner, int failures)
      : inner_(inner), failures_left(failures) {}
  void publish(const OutboxRecord& record) override {
    if (failures_left > 0) {
      --failures_left;
      throw std::runtime_error("stream unavailable");
    }
    inner_.publish(record);
  }

 private:
  flashsale::OutboxPublisher& inner_;

 public:
  int failures_left;
};

}  // namespace

TEST_CASE("a published record appears once in its aggregate type's stream with every field",
          "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  RedisStreamPublisher publisher(*client);
  const auto record = make_record(7);
  const auto entry = publisher.publish_entry(record);
  CHECK(entry.added);
  CHECK(entry.stream == "fs:outbox:{order}");
  CHECK(publisher.stream_for("order") == "fs:outbox:{order}");

  const auto entries = read_stream(server.admin(), "fs:outbox:{order}");
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].id == entry.entry_id);
  CHECK(entries[0].fields.at("outbox_id") == "7");
  CHECK(entries[0].fields.at("aggregate_type") == "order");
  CHECK(entries[0].fields.at("aggregate_id") == "o-1");
  CHECK(entries[0].fields.at("event_type") == "order_placed");
  CHECK(entries[0].fields.at("payload") == record.payload);
  CHECK(entries[0].fields.at("created_at_ms") == "1700000000123");
}

TEST_CASE("publishing an outbox id again returns the first entry and adds nothing", "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  RedisStreamPublisher publisher(*client);
  const auto first = publisher.publish_entry(make_record(1));
  const auto second = publisher.publish_entry(make_record(2));
  auto changed = make_record(1);
  changed.payload = "a retry never rewrites the first publication";
  const auto again = publisher.publish_entry(changed);
  CHECK(first.added);
  CHECK(second.added);
  CHECK_FALSE(again.added);
  CHECK(again.entry_id == first.entry_id);
  publisher.publish(make_record(2));
  const auto entries = read_stream(server.admin(), "fs:outbox:{order}");
  REQUIRE(entries.size() == 2);
  CHECK(outbox_id_of(entries[0]) == 1);
  CHECK(entries[0].fields.at("payload") == make_record(1).payload);
  CHECK(outbox_id_of(entries[1]) == 2);
}

TEST_CASE("records are routed by aggregate type, or all to a fixed stream", "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  RedisStreamPublisher by_type(*client);
  by_type.publish(make_record(1, "order"));
  by_type.publish(make_record(2, "coupon"));
  CHECK(key_count(server.admin(), "XLEN", "fs:outbox:{order}") == 1);
  CHECK(key_count(server.admin(), "XLEN", "fs:outbox:{coupon}") == 1);

  RedisStreamPublisherOptions options;
  options.key_prefix = "shop";
  options.fixed_stream = "all-events";
  RedisStreamPublisher fixed(*client, options);
  CHECK(fixed.stream_for("coupon") == "shop:outbox:{all-events}");
  fixed.publish(make_record(1, "order"));
  fixed.publish(make_record(2, "coupon"));
  CHECK(key_count(server.admin(), "XLEN", "shop:outbox:{all-events}") == 2);
  CHECK(key_count(server.admin(), "HLEN", "shop:outbox:{all-events}:published") == 2);
}

TEST_CASE("the publisher keeps publishing after SCRIPT FLUSH and after a server restart",
          "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  RedisStreamPublisher publisher(*client);
  CHECK(publisher.publish_entry(make_record(1)).added);
  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  CHECK(publisher.publish_entry(make_record(2)).added);
  CHECK_FALSE(publisher.publish_entry(make_record(2)).added);

  server.restart();
  CHECK(publisher.publish_entry(make_record(3)).added);
  const auto entries = read_stream(server.admin(), "fs:outbox:{order}");
  REQUIRE(entries.size() == 1);  // the restart lost the data (no persistence)
  CHECK(outbox_id_of(entries[0]) == 3);

  server.kill();
  CHECK_THROWS_AS(publisher.publish(make_record(4)), flashsale::ConnectionError);
  server.restart();
  CHECK(publisher.publish_entry(make_record(4)).added);
}

TEST_CASE("bad records and options are refused before anything is sent", "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  RedisStreamPublisher publisher(*client);
  using flashsale::InvalidArgument;
  const long long before = server.commands_processed();
  CHECK_THROWS_AS(publisher.publish(make_record(0)), InvalidArgument);
  CHECK_THROWS_AS(publisher.publish(make_record(-3)), InvalidArgument);
  CHECK_THROWS_AS(publisher.publish(make_record(1, "", "o")), InvalidArgument);
  CHECK_THROWS_AS(publisher.publish(make_record(1, "ord er", "o")), InvalidArgument);
  CHECK_THROWS_AS(publisher.publish(make_record(1, "{order}", "o")), InvalidArgument);
  CHECK_THROWS_AS(publisher.publish(make_record(1, "order", "")), InvalidArgument);
  auto no_event = make_record(1);
  no_event.event_type.clear();
  CHECK_THROWS_AS(publisher.publish(no_event), InvalidArgument);
  auto huge = make_record(1);
  huge.payload.assign(flashsale::kMaxOutboxPayloadBytes + 1, 'x');
  CHECK_THROWS_AS(publisher.publish(huge), InvalidArgument);
  CHECK(server.commands_processed() == before + 1);
  CHECK(server.admin().execute({{"DBSIZE"}, {}, {}}).as_integer() == 0);

  RedisStreamPublisherOptions bad_stream;
  bad_stream.fixed_stream = "with space";
  CHECK_THROWS_AS(RedisStreamPublisher(*client, bad_stream), InvalidArgument);
  RedisStreamPublisherOptions bad_prefix;
  bad_prefix.key_prefix = "";
  CHECK_THROWS_AS(RedisStreamPublisher(*client, bad_prefix), InvalidArgument);
}

TEST_CASE("a dedup key of a foreign type fails the publish before the stream is written",
          "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  RedisStreamPublisher publisher(*client);
  server.admin().execute(
      {{"SET", "fs:outbox:{order}:published-at", "x"}, "fs:outbox:{order}:published-at", {}});
  CHECK_THROWS_AS(publisher.publish(make_record(1)), flashsale::ReplyError);
  CHECK(key_count(server.admin(), "EXISTS", "fs:outbox:{order}") == 0);
  CHECK(key_count(server.admin(), "EXISTS", "fs:outbox:{order}:published") == 0);
}

TEST_CASE("the publish script itself refuses malformed arguments and writes nothing", "[outbox]") {
  RedisServer server;
  auto client = server.make_client(1);
  const auto& script = flashsale::bundled_script("publish_outbox_record");
  const std::vector<std::string> keys = {"fs:outbox:{order}", "fs:outbox:{order}:published",
                                         "fs:outbox:{order}:published-at"};
  const auto call = [&](std::string id, std::string retention, std::string max_length) {
    return flashsale::ScriptCall{&script,
                                 keys,
                                 {std::move(id), std::move(retention), std::move(max_length),
                                  "order", "o-1", "order_placed", "{}", "0"}};
  };
  CHECK_THROWS_AS(client->run_script(call("0", "0", "0")), flashsale::ReplyError);
  CHECK_THROWS_AS(client->run_script(call("1x", "0", "0")), flashsale::ReplyError);
  CHECK_THROWS_AS(client->run_script(call("1", "-1", "0")), flashsale::ReplyError);
  CHECK_THROWS_AS(client->run_script(call("1", "0", "1.5")), flashsale::ReplyError);
  CHECK_THROWS_AS(client->run_script({&script, {keys[0]}, {"1"}}), flashsale::ReplyError);
  CHECK(server.admin().execute({{"DBSIZE"}, {}, {}}).as_integer() == 0);
  CHECK(client->run_script(call("1", "0", "0")).as_array().at(1).as_integer() == 1);
}

TEST_CASE("dedup entries older than the retention are forgotten a bounded number per call",
          "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  RedisStreamPublisherOptions options;
  options.dedup_retention = 1h;
  RedisStreamPublisher publisher(*client, options);
  for (int id = 1; id <= 150; ++id) {
    publisher.publish(make_record(id));
  }
  const std::string published = "fs:outbox:{order}:published";
  const std::string published_at = "fs:outbox:{order}:published-at";
  CHECK(key_count(server.admin(), "HLEN", published) == 150);
  CHECK(key_count(server.admin(), "ZCARD", published_at) == 150);
  // Make the first 150 publications look decades old (scores are server ms).
  std::vector<std::string> aged = {"ZADD", published_at};
  for (int id = 1; id <= 150; ++id) {
    aged.push_back(std::to_string(1000 + id));
    aged.push_back(std::to_string(id));
  }
  server.admin().execute({aged, published_at, {}});

  publisher.publish(make_record(151));
  // At most 100 expired entries go per call; the next call takes the rest.
  CHECK(key_count(server.admin(), "HLEN", published) == 51);
  CHECK_FALSE(publisher.publish_entry(make_record(150)).added);  // not yet forgotten
  CHECK_FALSE(publisher.publish_entry(make_record(151)).added);
  publisher.publish(make_record(152));
  CHECK(key_count(server.admin(), "HLEN", published) == 2);
  CHECK(key_count(server.admin(), "ZCARD", published_at) == 2);
  CHECK(key_count(server.admin(), "XLEN", "fs:outbox:{order}") == 152);
  // A forgotten id would be published again: the documented limit of retention.
  CHECK(publisher.publish_entry(make_record(1)).added);

  RedisStreamPublisherOptions forever;
  forever.dedup_retention = 0ms;
  forever.fixed_stream = "kept";
  RedisStreamPublisher keeping(*client, forever);
  keeping.publish(make_record(1));
  CHECK(key_count(server.admin(), "HLEN", "fs:outbox:{kept}:published") == 1);
  CHECK(key_count(server.admin(), "EXISTS", "fs:outbox:{kept}:published-at") == 0);
}

TEST_CASE("max_stream_length caps the stream approximately", "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  RedisStreamPublisherOptions options;
  options.max_stream_length = 100;
  RedisStreamPublisher publisher(*client, options);
  for (int id = 1; id <= 1000; ++id) {
    publisher.publish(make_record(id));
  }
  const auto length = key_count(server.admin(), "XLEN", "fs:outbox:{order}");
  CHECK(length >= 100);
  CHECK(length < 1000);
}

TEST_CASE("the relay publishes committed records from SQLite to Redis, never rolled-back ones",
          "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  TemporaryDirectory directory;
  HostDatabase host(directory.file("app.db"));
  SqliteOutboxStore store(directory.file("app.db"));
  RedisStreamPublisher publisher(*client);
  OutboxRelay relay(store, publisher);

  const auto first = host.place_order("o-1", "first");
  host.execute("BEGIN");
  host.execute("INSERT INTO orders VALUES ('rolled-back', 9)");
  SqliteOutboxStore::append(host.handle(), {"order", "o-1", "order_placed", "rolled-back"});
  host.execute("ROLLBACK");
  const auto second = host.place_order("o-1", "second");

  const auto report = relay.relay_once();
  CHECK(report.published == 2);
  const auto entries = read_stream(server.admin(), "fs:outbox:{order}");
  REQUIRE(entries.size() == 2);
  CHECK(outbox_id_of(entries[0]) == first);
  CHECK(entries[0].fields.at("payload") == "first");
  CHECK(outbox_id_of(entries[1]) == second);
  CHECK(entries[1].fields.at("payload") == "second");
  CHECK(store.counts().published == 2);
  CHECK(store.counts().pending == 0);
}

TEST_CASE("a relay publisher that fails N times backs off, recovers and publishes in order",
          "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  TemporaryDirectory directory;
  HostDatabase host(directory.file("app.db"));
  SqliteOutboxStore store(directory.file("app.db"));
  RedisStreamPublisher stream_publisher(*client);
  constexpr int kFailures = 4;
  FailingThenRecoveringPublisher publisher(stream_publisher, kFailures);
  flashsale::OutboxRelayOptions options;
  options.backoff_base = 20ms;
  options.jitter = 0;
  options.max_attempts = kFailures + 1;
  OutboxRelay relay(store, publisher, options);

  std::vector<std::int64_t> ids;
  for (int index = 0; index < 5; ++index) {
    ids.push_back(host.place_order("o-1", "p" + std::to_string(index)));
  }
  std::vector<std::chrono::milliseconds> waits;
  for (int pass = 0; pass < 10000 && store.counts().pending > 0; ++pass) {
    // The store keeps milliseconds: compare with the same precision.
    const auto before =
        std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
    const auto report = relay.relay_once();
    if (report.failed > 0) {
      const auto status = store.status(ids[0]);
      REQUIRE(status.has_value());
      CHECK(status->record.attempts == static_cast<int>(waits.size()) + 1);
      CHECK(status->last_error == "stream unavailable");
      waits.push_back(
          std::chrono::duration_cast<std::chrono::milliseconds>(status->next_attempt_at - before));
    }
    CHECK(report.blocked == 0);
    std::this_thread::sleep_for(2ms);
  }
  CHECK(store.counts().published == 5);
  // Without jitter the n-th retry waits at least 20 ms * 2^(n-1): 20, 40, 80, 160.
  REQUIRE(waits.size() == kFailures);
  for (std::size_t index = 0; index < waits.size(); ++index) {
    CAPTURE(index, waits[index].count());
    CHECK(waits[index] >= options.backoff_base * (1 << index));
  }
  const auto entries = read_stream(server.admin(), "fs:outbox:{order}");
  REQUIRE(entries.size() == ids.size());
  for (std::size_t index = 0; index < ids.size(); ++index) {
    CHECK(outbox_id_of(entries[index]) == ids[index]);
  }
}

TEST_CASE("a relay blocks a record at the threshold, lists it, and publishes it once unblocked",
          "[outbox]") {
  RedisServer server;
  auto client = server.make_client(2);
  TemporaryDirectory directory;
  HostDatabase host(directory.file("app.db"));
  SqliteOutboxStore store(directory.file("app.db"));
  RedisStreamPublisher stream_publisher(*client);
  FailingThenRecoveringPublisher publisher(stream_publisher, 3);
  flashsale::OutboxRelayOptions options;
  options.backoff_base = 1ms;
  options.backoff_max = 1ms;
  options.max_attempts = 3;
  OutboxRelay relay(store, publisher, options);

  const auto stuck = host.place_order("o-1", "stuck");
  const auto behind = host.place_order("o-1", "behind");
  std::size_t blocked = 0;
  for (int pass = 0; pass < 1000 && blocked == 0; ++pass) {
    blocked += relay.relay_once().blocked;
    std::this_thread::sleep_for(2ms);
  }
  REQUIRE(blocked == 1);
  const auto listed = store.list_blocked(10);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].record.id == stuck);
  CHECK(listed[0].record.attempts == 3);
  CHECK(listed[0].last_error == "stream unavailable");
  const auto unrelated = host.place_order("o-2", "unrelated");
  CHECK(relay.relay_once().published == 1);  // o-2 flows, o-1 waits
  CHECK(store.status(behind)->state == flashsale::OutboxRecordState::Pending);

  CHECK(store.unblock(stuck));
  CHECK(relay.relay_once().published == 2);
  const auto entries = read_stream(server.admin(), "fs:outbox:{order}");
  REQUIRE(entries.size() == 3);
  CHECK(outbox_id_of(entries[0]) == unrelated);
  CHECK(outbox_id_of(entries[1]) == stuck);
  CHECK(outbox_id_of(entries[2]) == behind);
}

TEST_CASE("a relay process killed after publishing and before marking does not duplicate",
          "[outbox]") {
  RedisServer server;
  TemporaryDirectory directory;
  HostDatabase host(directory.file("app.db"));
  const auto id = host.place_order("o-1", "once");
  const std::string port = std::to_string(server.port());
  const std::string db = directory.file("app.db");

  const int killed = flashsale::testing::run_relay_worker({db, port, "publish", "1", "0"});
  CHECK(flashsale::testing::killed_by_sigkill(killed));
  SqliteOutboxStore store(db);
  CHECK(store.status(id)->state == flashsale::OutboxRecordState::Pending);
  CHECK(read_stream(server.admin(), "fs:outbox:{order}").size() == 1);

  const int finished = flashsale::testing::run_relay_worker({db, port, "none", "1", "0"});
  CHECK(flashsale::testing::exited_cleanly(finished));
  CHECK(store.status(id)->state == flashsale::OutboxRecordState::Published);
  const auto entries = read_stream(server.admin(), "fs:outbox:{order}");
  REQUIRE(entries.size() == 1);
  CHECK(outbox_id_of(entries[0]) == id);
}
