// StreamConsumer against a real redis-server: batch handlers, streams added
// and removed at run time, blocking reads outside the client's pool, pending
// entries taken back at once after a connection error, lag after a stale
// entries-read count.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
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
using flashsale::testing::eventually;
using flashsale::testing::RedisServer;
using flashsale::testing::RedisServerOptions;

namespace {

const std::string kStream = "fs:events:{orders}";
const std::string kOther = "fs:events:{refunds}";
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
  options.max_deliveries = 5;
  return options;
}

long long pending_count(Client& client, const std::string& stream) {
  return flashsale::testing::pending_count(client, stream, kGroup);
}

// Runs consumer.run_batches / run on a thread; stops and joins on destruction.
class Running {
 public:
  template <typename Start>
  Running(StreamConsumer& consumer, Start start)
      : consumer_(consumer), thread_([this, start] {
          try {
            start();
          } catch (const std::exception& error) {
            const std::lock_guard<std::mutex> lock(mutex_);
            error_ = error.what();
          }
        }) {}
  ~Running() { stop(); }
  void stop() {
    consumer_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  std::string error() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  StreamConsumer& consumer_;
  std::mutex mutex_;
  std::string error_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("a batch handler receives whole batches of one stream and acknowledges per entry",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  const auto ids = add_entries(*client, kStream, 25);
  StreamConsumer consumer(*client, consumer_options("c1"));
  std::vector<std::size_t> batch_sizes;
  std::map<std::string, int> deliveries;
  const auto handler = [&](const std::vector<StreamMessage>& batch) {
    batch_sizes.push_back(batch.size());
    std::vector<HandlerOutcome> results;
    for (const auto& message : batch) {
      CHECK(message.stream == kStream);
      const int delivery = ++deliveries[message.id];
      // Every third entry fails its first delivery; the rest are acked.
      const bool fail = std::stoi(message.fields.at(0).second) % 3 == 0 && delivery == 1;
      results.push_back(fail ? HandlerOutcome::Retry : HandlerOutcome::Ack);
    }
    return results;
  };
  REQUIRE(eventually(
      [&] {
        consumer.poll_batches_once(handler);
        return pending_count(*client, kStream) == 0 && deliveries.size() == ids.size();
      },
      20s));
  CHECK(batch_sizes.at(0) == 10);
  for (const auto size : batch_sizes) {
    CHECK(size <= 10);
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CHECK(deliveries[ids[i]] == (i % 3 == 0 ? 2 : 1));
  }
  const auto stats = consumer.stats();
  CHECK(stats.acked == 25);
  CHECK(stats.retried == 9);
  CHECK(stats.pending == 0);
}

TEST_CASE("a batch handler that fails half way leaves its whole batch pending and loses nothing",
          "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  const auto ids = add_entries(*client, kStream, 30);
  StreamConsumer consumer(*client, consumer_options("c1"));
  std::set<std::string> written;  // the host's database
  int calls = 0;
  int wrong_size_calls = 0;
  const auto handler = [&](const std::vector<StreamMessage>& batch) {
    ++calls;
    if (calls == 1) {
      // Writes half the batch, then fails (the transaction rolls back).
      throw std::runtime_error("database connection lost half way");
    }
    if (calls == 2) {
      ++wrong_size_calls;
      return std::vector<HandlerOutcome>(batch.size() / 2, HandlerOutcome::Ack);
    }
    for (const auto& message : batch) {
      written.insert(message.id);
    }
    return std::vector<HandlerOutcome>(batch.size(), HandlerOutcome::Ack);
  };
  REQUIRE(eventually(
      [&] {
        consumer.poll_batches_once(handler);
        return pending_count(*client, kStream) == 0 && written.size() == ids.size();
      },
      20s));
  CHECK(written == std::set<std::string>(ids.begin(), ids.end()));
  CHECK(wrong_size_calls == 1);
  const auto stats = consumer.stats();
  CHECK(stats.acked == 30);
  CHECK(stats.retried == 20);  // the two failed batches of 10
  CHECK(stats.dead_lettered == 0);
  CHECK(flashsale::testing::read_stream(*client, kStream + ":dead").empty());
}

TEST_CASE(
    "a batch consumer process SIGKILLed in the middle of a batch loses nothing and leaves "
    "the PEL empty",
    "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::testing::StreamWorkerSettings settings;
  settings.port = server.port();
  settings.stream = kStream;
  settings.group = kGroup;
  settings.handled_set = "fs:test:{orders}:handled";
  settings.count_key = "fs:test:{orders}:handlings";
  settings.batch_size = 20;
  settings.claim_idle_ms = 300;
  settings.claim_interval_ms = 100;
  settings.block_ms = 200;
  settings.batch = true;
  auto ids = add_entries(*client, kStream, 15);
  ids.push_back(client->execute({{"XADD", kStream, "*", "crash", "1"}, kStream, {}}).as_string());
  const auto more = add_entries(*client, kStream, 24);
  ids.insert(ids.end(), more.begin(), more.end());

  flashsale::testing::StreamWorkerProcess crashing(settings, "crashing");
  CHECK(crashing.wait() == 3);  // died mid-batch: half its batch written, nothing acked
  CHECK(pending_count(*client, kStream) == 20);
  CHECK(client->execute({{"SCARD", settings.handled_set}, settings.handled_set, {}}).as_integer() ==
        10);

  flashsale::testing::StreamWorkerProcess survivor(settings, "survivor");
  CHECK(eventually(
      [&] {
        return pending_count(*client, kStream) == 0 &&
               client->execute({{"SCARD", settings.handled_set}, settings.handled_set, {}})
                       .as_integer() == static_cast<long long>(ids.size());
      },
      30s));
  CHECK(survivor.terminate() == 0);
  CHECK(pending_count(*client, kStream) == 0);
  const auto handled =
      client->execute({{"SMEMBERS", settings.handled_set}, settings.handled_set, {}}).as_array();
  std::set<std::string> handled_ids;
  for (const auto& id : handled) {
    handled_ids.insert(id.as_string());
  }
  CHECK(handled_ids == std::set<std::string>(ids.begin(), ids.end()));
  // The crashed batch's first half was written twice (at-least-once), nothing more.
  CHECK(client->execute({{"GET", settings.count_key}, settings.count_key, {}}).as_integer() ==
        static_cast<long long>(ids.size()) + 10);
}

TEST_CASE(
    "after a connection error the consumer takes its pending entries back at once, not "
    "after retry_backoff or claim_idle",
    "[stream]") {
  RedisServerOptions server_options;
  server_options.config_lines = {"appendonly yes"};
  RedisServer server(server_options);
  auto client = server.make_client(2);
  const auto ids = add_entries(*client, kStream, 5);
  auto options = consumer_options("c1");
  options.retry_backoff = 120s;
  options.claim_idle = 120s;
  StreamConsumer consumer(*client, options);
  std::atomic<int> calls{0};
  std::atomic<bool> killed{false};
  std::mutex acked_mutex;
  std::vector<std::string> handled;
  Running running(consumer, [&] {
    consumer.run_batches([&](const std::vector<StreamMessage>& batch) {
      if (++calls == 1) {
        server.kill();  // the XACK that follows fails: ConnectionError
        killed = true;
      } else {
        const std::lock_guard<std::mutex> lock(acked_mutex);
        for (const auto& message : batch) {
          handled.push_back(message.id);
        }
      }
      return std::vector<HandlerOutcome>(batch.size(), HandlerOutcome::Ack);
    });
  });
  REQUIRE(eventually([&] { return killed.load(); }, 20s));
  server.restart();  // from its append-only file: the entries are still pending
  flashsale::testing::wait_until_loaded(server.admin());
  CHECK(eventually([&] { return pending_count(server.admin(), kStream) == 0; }, 30s));
  running.stop();
  CHECK(running.error().empty());
  const std::lock_guard<std::mutex> lock(acked_mutex);
  CHECK(handled == ids);
}

TEST_CASE("blocking reads do not hold the client's pool connections", "[stream]") {
  RedisServer server;
  flashsale::PoolOptions pool;
  pool.size = 1;
  pool.wait_timeout = 300ms;
  flashsale::StandaloneClient client(server.connection_options(), pool);
  std::vector<std::unique_ptr<StreamConsumer>> consumers;
  std::vector<std::unique_ptr<Running>> running;
  for (int i = 0; i < 4; ++i) {
    auto options = consumer_options("c" + std::to_string(i));
    options.block_timeout = 3s;
    consumers.push_back(std::make_unique<StreamConsumer>(client, options));
    auto& consumer = *consumers.back();
    running.push_back(std::make_unique<Running>(consumer, [&consumer] {
      consumer.run([](const StreamMessage&) { return HandlerOutcome::Ack; });
    }));
  }
  std::this_thread::sleep_for(500ms);  // all four are blocked in XREADGROUP now
  // The request path still gets the pool's one connection at once, every time.
  for (int i = 0; i < 20; ++i) {
    CHECK(client.execute({{"INCR", "fs:test:{x}:hits"}, "fs:test:{x}:hits", {}}).as_integer() ==
          i + 1);
  }
  add_entries(client, kStream, 3);
  CHECK(eventually([&] { return pending_count(client, kStream) == 0; }, 20s));
  // A consumer counts an entry acked once XACK's reply is back, a moment
  // after the server dropped it from the pending list.
  const auto acked = [&] {
    long long total = 0;
    for (auto& consumer : consumers) {
      total += consumer->stats().acked;
    }
    return total;
  };
  CHECK(eventually([&] { return acked() >= 3; }, 20s));
  CHECK(acked() == 3);
  for (auto& one : running) {
    one->stop();
    CHECK(one->error().empty());
  }
}

TEST_CASE("streams added and removed while run() goes are read from the next poll on", "[stream]") {
  RedisServer server;
  auto client = server.make_client(4);
  StreamConsumer consumer(*client, consumer_options("c1"));
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> seen;
  const auto count_seen = [&](const std::string& stream) {
    const std::lock_guard<std::mutex> lock(mutex);
    return seen[stream].size();
  };
  // Refused before anything is sent (checked before run() sends anything).
  const auto before = server.commands_processed();
  CHECK_THROWS_AS(consumer.add_stream(""), flashsale::InvalidArgument);
  CHECK_THROWS_AS(consumer.add_stream(kStream + ":dead"), flashsale::InvalidArgument);
  CHECK_FALSE(consumer.add_stream(kStream));
  CHECK_FALSE(consumer.remove_stream("fs:events:{never}"));
  CHECK(server.commands_processed() == before + 1);

  Running running(consumer, [&] {
    consumer.run([&](const StreamMessage& message) {
      const std::lock_guard<std::mutex> lock(mutex);
      seen[message.stream].push_back(message.id);
      return HandlerOutcome::Ack;
    });
  });

  add_entries(*client, kStream, 2);
  CHECK(eventually([&] { return count_seen(kStream) == 2; }, 20s));
  CHECK(consumer.add_stream(kOther));
  CHECK(consumer.streams() == std::vector<std::string>{kStream, kOther});
  add_entries(*client, kOther, 3);
  CHECK(eventually([&] { return count_seen(kOther) == 3; }, 20s));

  CHECK(consumer.remove_stream(kStream));
  CHECK(consumer.remove_stream(kOther));  // the last one: the consumer waits
  CHECK(consumer.streams().empty());
  std::this_thread::sleep_for(400ms);  // any poll in progress is over
  add_entries(*client, kStream, 4);
  std::this_thread::sleep_for(600ms);
  CHECK(count_seen(kStream) == 2);  // not read while removed

  CHECK(consumer.add_stream(kStream));
  CHECK(eventually([&] { return count_seen(kStream) == 6; }, 20s));
  running.stop();
  CHECK(running.error().empty());
  CHECK(consumer.stats().acked == 9);
}

TEST_CASE(
    "lag is 0 when the group has read up to the last id, whatever Redis' stale "
    "entries-read count says",
    "[stream]") {
  RedisServer server;
  auto client = server.make_client(2);
  add_entries(*client, kStream, 30);
  StreamConsumer consumer(*client, consumer_options("c1"));
  REQUIRE(eventually(
      [&] {
        consumer.poll_once([](const StreamMessage&) { return HandlerOutcome::Ack; });
        return pending_count(*client, kStream) == 0 && consumer.stats().acked == 30;
      },
      20s));
  CHECK(consumer.stats().lag == std::optional<std::int64_t>(0));
  // The group as a restart can leave it: at the last id, with a stale count.
  client->execute({{"XGROUP", "SETID", kStream, kGroup, "$", "ENTRIESREAD", "0"}, kStream, {}});
  const auto groups = client->execute({{"XINFO", "GROUPS", kStream}, kStream, {}});
  std::int64_t redis_lag = -1;
  const auto& fields = groups.as_array().at(0).as_array();
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    if (fields[i].as_string() == "lag") {
      redis_lag = fields[i + 1].as_integer();
    }
  }
  CHECK(redis_lag == 30);  // what Redis says
  CHECK(consumer.stats().lag == std::optional<std::int64_t>(0));

  // A count larger than the stream holds is unknown, never reported.
  client->execute({{"XTRIM", kStream, "MAXLEN", "5"}, kStream, {}});
  const auto ids = add_entries(*client, kStream, 2);
  client->execute({{"XGROUP", "SETID", kStream, kGroup, ids[0], "ENTRIESREAD", "0"}, kStream, {}});
  const auto lag = consumer.stats().lag;
  CHECK((!lag.has_value() || *lag == 1));
}
