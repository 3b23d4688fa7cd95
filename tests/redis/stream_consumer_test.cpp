// StreamConsumer against a real redis-server: acknowledgement, retries,
// recovery of a crashed consumer's entries, dead letters, stop, stats.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/log.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stream_consumer.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"
#include "stream_worker_process.hpp"

using namespace std::chrono_literals;
using flashsale::Client;
using flashsale::HandlerOutcome;
using flashsale::StreamConsumer;
using flashsale::StreamConsumerOptions;
using flashsale::StreamMessage;
using flashsale::testing::add_entries;
using flashsale::testing::read_stream;
using flashsale::testing::RedisServer;

namespace {

const std::string kStream = "fs:events:{orders}";
const std::string kGroup = "persist";

StreamConsumerOptions consumer_options(std::string consumer) {
  StreamConsumerOptions options;
  options.streams = {kStream};
  options.group = kGroup;
  options.consumer = std::move(consumer);
  options.batch_size = 10;
  options.block_timeout = 200ms;
  options.claim_idle = 60s;
  options.claim_interval = 60s;
  options.retry_backoff = 50ms;
  options.max_deliveries = 3;
  return options;
}

long long pending_count(Client& client, const std::string& stream) {
  return flashsale::testing::pending_count(client, stream, kGroup);
}

// Polls once (which creates the group), then until `done` holds or 20 s
// passed; returns whether it held. `done` may query the group (XPENDING), so it
// is asked only after the first poll.
bool poll_until(StreamConsumer& consumer, const flashsale::StreamHandler& handler,
                const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  do {
    consumer.poll_once(handler);
    if (done()) {
      return true;
    }
  } while (std::chrono::steady_clock::now() <= deadline);
  return false;
}

// Delivers up to `count` new entries to a consumer that then does nothing,
// like one that crashed before acknowledging.
std::vector<std::string> deliver_to_ghost(Client& client, const std::string& ghost, int count) {
  const auto reply = client.execute({{"XREADGROUP", "GROUP", kGroup, ghost, "COUNT",
                                      std::to_string(count), "STREAMS", kStream, ">"},
                                     kStream,
                                     {}});
  std::vector<std::string> ids;
  for (const auto& entry : reply.as_array().at(0).as_array().at(1).as_array()) {
    ids.push_back(entry.as_array().at(0).as_string());
  }
  return ids;
}

}  // namespace

TEST_CASE("bad stream consumer options raise InvalidArgument and send nothing", "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  const std::vector<std::function<void(StreamConsumerOptions&)>> breakers = {
      [](auto& o) { o.streams.clear(); },
      [](auto& o) { o.streams = {""}; },
      [](auto& o) {
        o.streams = {kStream, kStream};
      },
      [](auto& o) {
        o.streams = {kStream, kStream + ":dead"};
      },
      [](auto& o) { o.group = ""; },
      [](auto& o) { o.consumer = ""; },
      [](auto& o) { o.start_id = ">"; },
      [](auto& o) { o.batch_size = 0; },
      [](auto& o) { o.batch_size = 10001; },
      [](auto& o) { o.block_timeout = 0ms; },
      [](auto& o) { o.claim_idle = 0ms; },
      [](auto& o) { o.claim_interval = -1ms; },
      [](auto& o) { o.retry_backoff = -1ms; },
      [](auto& o) { o.max_deliveries = 0; },
      [](auto& o) { o.dead_letter_suffix = ""; },
      [](auto& o) { o.dead_letter_suffix = ":{dead}"; },
  };
  const long long before = server.commands_processed();
  for (std::size_t i = 0; i < breakers.size(); ++i) {
    INFO("breaker " << i);
    auto options = consumer_options("c1");
    breakers[i](options);
    CHECK_THROWS_AS(StreamConsumer(*client, options), flashsale::InvalidArgument);
  }
  CHECK(server.commands_processed() == before + 1);
  CHECK(server.admin().execute({{"EXISTS", kStream}, kStream, {}}).as_integer() == 0);
}

TEST_CASE("entries are handled and acknowledged, and an existing group is never reset",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  const auto ids = add_entries(*client, kStream, 25);

  std::vector<std::string> seen;
  auto handler = [&](const StreamMessage& message) {
    CHECK(message.stream == kStream);
    CHECK(message.delivery_count == 1);
    REQUIRE(message.fields.size() == 1);
    CHECK(message.fields[0].first == "n");
    seen.push_back(message.id);
    return HandlerOutcome::Ack;
  };
  StreamConsumer first(*client, consumer_options("c1"));
  REQUIRE(poll_until(first, handler, [&] { return seen.size() == ids.size(); }));
  CHECK(seen == ids);
  CHECK(pending_count(*client, kStream) == 0);
  const auto stats = first.stats();
  CHECK(stats.delivered == 25);
  CHECK(stats.acked == 25);
  CHECK(stats.pending == 0);
  REQUIRE(stats.lag.has_value());
  CHECK(*stats.lag == 0);

  // A second consumer asking for start id 0 joins the existing group: it does
  // not see the old entries again, only new ones.
  StreamConsumer second(*client, consumer_options("c2"));
  CHECK(second.poll_once(handler) == 0);
  const auto later = add_entries(*client, kStream, 1);
  CHECK(second.poll_once(handler) == 1);
  CHECK(seen.back() == later.front());
  CHECK(server.admin().execute({{"XINFO", "GROUPS", kStream}, kStream, {}}).as_array().size() == 1);
}

TEST_CASE("a failed entry is retried after the backoff with its delivery count from the PEL",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  add_entries(*client, kStream, 1);
  std::vector<std::int64_t> deliveries;
  auto handler = [&](const StreamMessage& message) {
    deliveries.push_back(message.delivery_count);
    if (deliveries.size() == 1) {
      throw std::runtime_error("database unavailable");
    }
    return deliveries.size() == 2 ? HandlerOutcome::Retry : HandlerOutcome::Ack;
  };
  StreamConsumer consumer(*client, consumer_options("c1"));
  REQUIRE(poll_until(consumer, handler, [&] { return deliveries.size() == 3; }));
  CHECK(deliveries == std::vector<std::int64_t>{1, 2, 3});
  CHECK(pending_count(*client, kStream) == 0);
  const auto stats = consumer.stats();
  CHECK(stats.retried == 2);
  CHECK(stats.acked == 1);
  CHECK(stats.delivered == 3);
  CHECK(stats.dead_lettered == 0);
}

TEST_CASE("a poison message is dead-lettered after exactly max_deliveries while others flow",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  add_entries(*client, kStream, 10);
  const std::string poison_id =
      client->execute({{"XADD", kStream, "*", "poison", "1"}, kStream, {}}).as_string();
  add_entries(*client, kStream, 10);

  std::map<std::string, int> calls;
  auto handler = [&](const StreamMessage& message) {
    ++calls[message.id];
    if (message.id == poison_id) {
      throw std::runtime_error("cannot parse coupon");
    }
    return HandlerOutcome::Ack;
  };
  StreamConsumer consumer(*client, consumer_options("c1"));
  const std::string dead_stream = kStream + ":dead";
  CHECK(consumer.dead_letter_stream(kStream) == dead_stream);
  REQUIRE(
      poll_until(consumer, handler, [&] { return read_stream(*client, dead_stream).size() == 1; }));
  // The healthy entries were all handled once, before the poison ran out of retries.
  CHECK(calls.size() == 21);
  for (const auto& [id, count] : calls) {
    INFO(id);
    CHECK(count == (id == poison_id ? 3 : 1));
  }
  CHECK(pending_count(*client, kStream) == 0);

  const auto dead = read_stream(*client, dead_stream);
  const auto& fields = dead.at(0).fields;
  CHECK(fields.at("original_id") == poison_id);
  CHECK(fields.at("stream") == kStream);
  CHECK(fields.at("group") == kGroup);
  CHECK(fields.at("consumer") == "c1");
  CHECK(fields.at("deliveries") == "3");
  CHECK(fields.at("last_error") == "cannot parse coupon");
  CHECK(fields.at("field:poison") == "1");
  const auto stats = consumer.stats();
  CHECK(stats.dead_lettered == 1);
  CHECK(stats.retried == 2);
  CHECK(stats.acked == 20);

  // Nothing more happens to it: polling again neither delivers nor duplicates.
  consumer.poll_once(handler);
  CHECK(calls[poison_id] == 3);
  CHECK(read_stream(*client, dead_stream).size() == 1);
}

TEST_CASE("a DeadLetter result moves the entry at once, also after SCRIPT FLUSH (NOSCRIPT)",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  add_entries(*client, kStream, 2);
  int calls = 0;
  auto reject = [&](const StreamMessage&) {
    ++calls;
    return HandlerOutcome::DeadLetter;
  };
  auto options = consumer_options("c1");
  options.batch_size = 1;
  StreamConsumer one_at_a_time(*client, options);
  CHECK(one_at_a_time.poll_once(reject) == 1);
  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  CHECK(one_at_a_time.poll_once(reject) == 1);
  CHECK(calls == 2);
  const auto dead = read_stream(*client, kStream + ":dead");
  REQUIRE(dead.size() == 2);
  for (const auto& entry : dead) {
    const auto& fields = entry.fields;
    CHECK(fields.at("deliveries") == "1");
    CHECK(fields.at("last_error") == "the handler rejected the message");
  }
  CHECK(pending_count(*client, kStream) == 0);
  CHECK(one_at_a_time.stats().dead_lettered == 2);
}

TEST_CASE(
    "a crashed consumer's entries are taken over after claim_idle, and deleted ones are "
    "counted and cleared",
    "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  auto options = consumer_options("survivor");
  options.claim_idle = 100ms;
  options.claim_interval = 50ms;
  StreamConsumer consumer(*client, options);
  consumer.poll_once(
      [](const StreamMessage&) { return HandlerOutcome::Ack; });  // creates the group

  add_entries(*client, kStream, 10);
  const auto ghost_ids = deliver_to_ghost(*client, "ghost", 10);
  REQUIRE(ghost_ids.size() == 10);
  client->execute({{"XDEL", kStream, ghost_ids[1], ghost_ids[4], ghost_ids[7]}, kStream, {}});
  std::this_thread::sleep_for(150ms);

  std::map<std::string, std::int64_t> deliveries;
  auto handler = [&](const StreamMessage& message) {
    deliveries[message.id] = message.delivery_count;
    return HandlerOutcome::Ack;
  };
  REQUIRE(poll_until(consumer, handler, [&] { return pending_count(*client, kStream) == 0; }));
  CHECK(deliveries.size() == 7);
  for (const auto& [id, count] : deliveries) {
    CHECK(count == 2);
  }
  const auto stats = consumer.stats();
  CHECK(stats.reclaimed == 7);
  CHECK(stats.deleted_while_pending == 3);
  CHECK(stats.acked == 7);
}

TEST_CASE("an entry taken over after its last allowed delivery is dead-lettered unhandled",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  auto options = consumer_options("survivor");
  options.claim_idle = 50ms;
  options.claim_interval = 10ms;
  options.max_deliveries = 1;
  StreamConsumer consumer(*client, options);
  int calls = 0;
  auto handler = [&](const StreamMessage&) {
    ++calls;
    return HandlerOutcome::Ack;
  };
  consumer.poll_once(handler);
  add_entries(*client, kStream, 1);
  const auto ids = deliver_to_ghost(*client, "ghost", 1);
  std::this_thread::sleep_for(100ms);
  REQUIRE(poll_until(consumer, handler, [&] { return pending_count(*client, kStream) == 0; }));
  CHECK(calls == 0);
  const auto dead = read_stream(*client, kStream + ":dead");
  REQUIRE(dead.size() == 1);
  const auto& fields = dead[0].fields;
  CHECK(fields.at("original_id") == ids.at(0));
  CHECK(fields.at("deliveries") == "2");
  CHECK(fields.at("last_error") == "delivered 1 times without an acknowledgement");
}

TEST_CASE(
    "a handler that fails between its effect and the ack is redelivered, and the idempotent "
    "effect applies once",
    "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  add_entries(*client, kStream, 1);
  const std::string effect = "fs:test:{orders}:persisted";
  int attempts = 0;
  auto handler = [&](const StreamMessage& message) {
    ++attempts;
    client->execute({{"SADD", effect, message.id}, effect, {}});  // the effect, idempotent
    if (attempts == 1) {
      throw std::runtime_error("lost the connection before acknowledging");
    }
    return HandlerOutcome::Ack;
  };
  StreamConsumer consumer(*client, consumer_options("c1"));
  consumer.poll_once(handler);  // creates the group that pending_count reads
  REQUIRE(poll_until(consumer, handler, [&] { return pending_count(*client, kStream) == 0; }));
  CHECK(attempts == 2);
  CHECK(client->execute({{"SCARD", effect}, effect, {}}).as_integer() == 1);
}

TEST_CASE(
    "a consumer process that dies between its effect and the ack: another consumer "
    "redelivers, the effect applies once",
    "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::testing::StreamWorkerSettings settings;
  settings.port = server.port();
  settings.stream = kStream;
  settings.group = kGroup;
  settings.handled_set = "fs:test:{orders}:handled";
  settings.count_key = "fs:test:{orders}:handlings";
  settings.claim_idle_ms = 300;
  settings.claim_interval_ms = 100;
  settings.block_ms = 200;
  const std::string id =
      client->execute({{"XADD", kStream, "*", "coupon", "c", "crash", "1"}, kStream, {}})
          .as_string();

  flashsale::testing::StreamWorkerProcess crashing(settings, "crashing");
  CHECK(crashing.wait() == 3);  // exited abruptly after the effect, before the ack
  CHECK(pending_count(*client, kStream) == 1);

  flashsale::testing::StreamWorkerProcess survivor(settings, "survivor");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (pending_count(*client, kStream) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(pending_count(*client, kStream) == 0);
  CHECK(survivor.terminate() == 0);
  CHECK(client->execute({{"GET", settings.count_key}, settings.count_key, {}}).as_integer() == 2);
  const auto handled =
      client->execute({{"SMEMBERS", settings.handled_set}, settings.handled_set, {}}).as_array();
  REQUIRE(handled.size() == 1);
  CHECK(handled[0].as_string() == id);
}

TEST_CASE("stop() while run() is blocked in XREADGROUP returns within the block timeout",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  auto options = consumer_options("c1");
  options.block_timeout = 1000ms;
  StreamConsumer consumer(*client, options);
  std::atomic<int> handled{0};
  std::thread runner([&] {
    consumer.run([&](const StreamMessage&) {
      ++handled;
      return HandlerOutcome::Ack;
    });
  });
  auto blocked_clients = [&] {
    return flashsale::testing::info_number(server.admin(), "clients", "blocked_clients:").value();
  };
  add_entries(*client, kStream, 3);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((handled < 3 || blocked_clients() == 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(blocked_clients() == 1);
  const auto stop_at = std::chrono::steady_clock::now();
  consumer.stop();
  runner.join();
  const auto elapsed = std::chrono::steady_clock::now() - stop_at;
  // A functional bound with a generous margin for a loaded machine, not a
  // performance threshold.
  CHECK(elapsed < options.block_timeout + 2s);
  CHECK(handled == 3);
  CHECK(consumer.stop_requested());
}

TEST_CASE("stats report lag as a value when Redis knows it and as unknown when it does not",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  StreamConsumer consumer(*client, consumer_options("c1"));
  auto before = consumer.stats();  // no group yet
  CHECK(before.pending == 0);
  CHECK_FALSE(before.lag.has_value());
  CHECK_FALSE(before.oldest_pending_age.has_value());

  consumer.poll_once([](const StreamMessage&) { return HandlerOutcome::Ack; });
  const auto ids = add_entries(*client, kStream, 5);
  auto stats = consumer.stats();
  REQUIRE(stats.lag.has_value());
  CHECK(*stats.lag == 5);

  deliver_to_ghost(*client, "ghost", 2);
  stats = consumer.stats();
  REQUIRE(stats.lag.has_value());
  CHECK(*stats.lag == 3);
  CHECK(stats.pending == 2);
  REQUIRE(stats.oldest_pending_age.has_value());
  CHECK(stats.oldest_pending_age->count() >= 0);

  // Deleting an undelivered entry leaves Redis unable to count: unknown, not 0.
  client->execute({{"XDEL", kStream, ids[3]}, kStream, {}});
  stats = consumer.stats();
  CHECK_FALSE(stats.lag.has_value());
  CHECK(stats.pending == 2);
}

TEST_CASE("removing idle consumers deletes only those with nothing pending", "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  StreamConsumer consumer(*client, consumer_options("self"));
  add_entries(*client, kStream, 1);
  consumer.poll_once([](const StreamMessage&) { return HandlerOutcome::Ack; });
  add_entries(*client, kStream, 2);
  deliver_to_ghost(*client, "busy", 1);
  client->execute({{"XGROUP", "CREATECONSUMER", kStream, kGroup, "idle"}, kStream, {}});

  CHECK(consumer.remove_idle_consumers(1h).empty());  // nobody idle that long
  const auto removed = consumer.remove_idle_consumers(0ms);
  CHECK(removed == std::vector<std::string>{"idle"});
  std::vector<std::string> left;
  const auto consumers = client->execute({{"XINFO", "CONSUMERS", kStream, kGroup}, kStream, {}});
  for (const auto& info : consumers.as_array()) {
    left.push_back(info.as_array().at(1).as_string());
  }
  CHECK(left == std::vector<std::string>{"busy", "self"});
  CHECK(pending_count(*client, kStream) == 1);
}

TEST_CASE("after a restart without persistence the group is created again and entries flow",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  StreamConsumer consumer(*client, consumer_options("c1"));
  int handled = 0;
  auto handler = [&](const StreamMessage&) {
    ++handled;
    return HandlerOutcome::Ack;
  };
  add_entries(*client, kStream, 2);
  REQUIRE(poll_until(consumer, handler, [&] { return handled == 2; }));
  server.restart();
  add_entries(*client, kStream, 3);  // a fresh stream without the group
  REQUIRE(poll_until(consumer, handler, [&] { return handled == 5; }));
  CHECK(pending_count(*client, kStream) == 0);
}

TEST_CASE("several streams are each read, acknowledged and dead-lettered on their own",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  const std::string other = "fs:events:{stock}";
  auto options = consumer_options("c1");
  options.streams = {kStream, other};
  StreamConsumer consumer(*client, options);
  add_entries(*client, kStream, 5);
  add_entries(*client, other, 5);
  client->execute({{"XADD", other, "*", "poison", "1"}, other, {}});
  std::map<std::string, int> per_stream;
  auto handler = [&](const StreamMessage& message) {
    ++per_stream[message.stream];
    return message.fields.at(0).first == "poison" ? HandlerOutcome::DeadLetter
                                                  : HandlerOutcome::Ack;
  };
  REQUIRE(poll_until(consumer, handler,
                     [&] { return per_stream[kStream] == 5 && per_stream[other] == 6; }));
  CHECK(pending_count(*client, kStream) == 0);
  CHECK(pending_count(*client, other) == 0);
  CHECK(read_stream(*client, other + ":dead").size() == 1);
  CHECK(read_stream(*client, kStream + ":dead").empty());
}

TEST_CASE("run() rides out a server restart: it logs, reconnects and goes on handling entries",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  std::atomic<int> warnings{0};
  flashsale::set_log_sink([&](flashsale::LogLevel, std::string_view) { ++warnings; });
  auto options = consumer_options("c1");
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  StreamConsumer consumer(*client, options);
  std::atomic<int> handled{0};
  std::thread runner([&] {
    consumer.run([&](const StreamMessage&) {
      ++handled;
      return HandlerOutcome::Ack;
    });
  });
  auto wait_for = [&](int count) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (handled < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    return handled >= count;
  };
  add_entries(*client, kStream, 3);
  const bool before_restart = wait_for(3);
  server.kill();
  std::this_thread::sleep_for(500ms);  // run() meets the dead server
  server.restart();
  add_entries(*client, kStream, 4);  // a fresh stream: the group is created again
  const bool after_restart = wait_for(7);
  consumer.stop();
  runner.join();
  flashsale::set_log_sink({});
  CHECK(before_restart);
  CHECK(after_restart);
  CHECK(handled == 7);
  CHECK(warnings > 0);
  CHECK(pending_count(*client, kStream) == 0);
}
