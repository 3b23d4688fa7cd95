// StreamConsumer under load: consumer processes SIGKILLed mid-batch and
// replaced, and many consumers starting at once.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/log.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stream_consumer.hpp"
#include "redis_server.hpp"
#include "stream_worker_process.hpp"

using namespace std::chrono_literals;
using flashsale::Client;
using flashsale::HandlerOutcome;
using flashsale::StreamConsumer;
using flashsale::StreamMessage;
using flashsale::testing::RedisServer;
using flashsale::testing::StreamWorkerProcess;

namespace {

const std::string kStream = "fs:events:{load}";
const std::string kGroup = "persist";
const std::string kHandledSet = "fs:test:{load}:handled";
const std::string kHandlingCount = "fs:test:{load}:handlings";

void produce(Client& client, int count, int chunk) {
  for (int first = 0; first < count; first += chunk) {
    std::vector<flashsale::Command> commands;
    for (int n = first; n < std::min(count, first + chunk); ++n) {
      commands.push_back({{"XADD", kStream, "*", "n", std::to_string(n)}, kStream, {}});
    }
    for (const auto& reply : client.execute_pipeline(commands)) {
      reply.throw_if_error();
    }
  }
}

long long pending_count(Client& client) {
  return client.execute({{"XPENDING", kStream, kGroup}, kStream, {}}).as_array().at(0).as_integer();
}

long long handled_count(Client& client) {
  return client.execute({{"SCARD", kHandledSet}, kHandledSet, {}}).as_integer();
}

// Waits until every one of `total` entries is handled and nothing is pending,
// or 240 s passed; returns whether that happened.
bool wait_until_drained(Client& client, long long total) {
  const auto deadline = std::chrono::steady_clock::now() + 240s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (handled_count(client) == total && pending_count(client) == 0) {
      return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// A client with a generous command timeout: the machine running the tests is
// shared and may be loaded.
std::unique_ptr<flashsale::StandaloneClient> patient_client(const RedisServer& server,
                                                            std::size_t pool_size) {
  auto connection = server.connection_options();
  connection.command_timeout = 10s;
  return std::make_unique<flashsale::StandaloneClient>(connection,
                                                       flashsale::PoolOptions{pool_size, 10s});
}

// Joins a thread on every way out of a scope, exceptions included.
struct ThreadJoiner {
  std::thread& thread;
  ~ThreadJoiner() {
    if (thread.joinable()) {
      thread.join();
    }
  }
};

}  // namespace

TEST_CASE(
    "100000 entries, 4 consumer processes, 10 SIGKILLed mid-batch and replaced - none lost, "
    "PEL empty",
    "[stream][stress]") {
  constexpr int kEntries = 100000;
  constexpr int kConsumers = 4;
  constexpr int kMidBatchKills = 10;
  RedisServer server;
  auto client = patient_client(server, 4);

  flashsale::testing::StreamWorkerSettings settings;
  settings.port = server.port();
  settings.stream = kStream;
  settings.group = kGroup;
  settings.handled_set = kHandledSet;
  settings.count_key = kHandlingCount;
  settings.batch_size = 50;
  settings.claim_idle_ms = 1000;
  settings.claim_interval_ms = 200;
  settings.block_ms = 500;

  int started = 0;
  std::vector<std::unique_ptr<StreamWorkerProcess>> workers;
  for (; started < kConsumers; ++started) {
    workers.push_back(
        std::make_unique<StreamWorkerProcess>(settings, "worker-" + std::to_string(started)));
  }
  std::thread producer([&] { produce(*client, kEntries, 1000); });
  ThreadJoiner join_producer{producer};

  // Kill a worker, check that it died holding delivered-but-unacknowledged
  // entries (mid-batch), replace it; until 10 kills were mid-batch.
  int mid_batch_kills = 0;
  int kills = 0;
  const auto first_handled_deadline = std::chrono::steady_clock::now() + 60s;
  while (handled_count(*client) == 0 && std::chrono::steady_clock::now() < first_handled_deadline) {
    std::this_thread::sleep_for(20ms);  // the workers are up and the group exists
  }
  while (mid_batch_kills < kMidBatchKills && kills < 100 && handled_count(*client) < kEntries) {
    std::this_thread::sleep_for(150ms);
    auto& victim = workers[static_cast<std::size_t>(kills % kConsumers)];
    victim->kill();
    ++kills;
    const auto left_pending = client->execute(
        {{"XPENDING", kStream, kGroup, "-", "+", "1", victim->consumer()}, kStream, {}});
    if (!left_pending.as_array().empty()) {
      ++mid_batch_kills;
    }
    victim = std::make_unique<StreamWorkerProcess>(settings, "worker-" + std::to_string(started++));
  }
  producer.join();
  CHECK(mid_batch_kills == kMidBatchKills);

  REQUIRE(wait_until_drained(*client, kEntries));
  for (auto& worker : workers) {
    CHECK(worker->terminate() == 0);
  }
  const long long handled = handled_count(*client);
  const long long handlings =
      client->execute({{"GET", kHandlingCount}, kHandlingCount, {}}).as_integer();
  const long long duplicates = handlings - handled;
  std::printf(
      "stream consumer stress: %d entries, %d kills (%d mid-batch), %lld handlings, "
      "%lld duplicates\n",
      kEntries, kills, mid_batch_kills, handlings, duplicates);
  CHECK(handled == kEntries);  // 0 lost
  CHECK(pending_count(*client) == 0);
  CHECK(duplicates >= 0);
  CHECK(client->execute({{"XLEN", kStream}, kStream, {}}).as_integer() == kEntries);
  CHECK(client->execute({{"XINFO", "GROUPS", kStream}, kStream, {}}).as_array().size() == 1);

  // The killed consumers are left in the group with nothing pending. All
  // workers have stopped and hold nothing, so cleanup removes every one (a
  // worker killed before its first read never joined the group).
  flashsale::StreamConsumerOptions janitor_options;
  janitor_options.streams = {kStream};
  janitor_options.group = kGroup;
  janitor_options.consumer = "janitor";
  StreamConsumer janitor(*client, janitor_options);
  const auto consumers_before =
      client->execute({{"XINFO", "CONSUMERS", kStream, kGroup}, kStream, {}}).as_array().size();
  CHECK(consumers_before >= static_cast<std::size_t>(kMidBatchKills));  // they held entries
  CHECK(janitor.remove_idle_consumers(0ms).size() == consumers_before);
  CHECK(client->execute({{"XINFO", "CONSUMERS", kStream, kGroup}, kStream, {}}).as_array().empty());
}

TEST_CASE(
    "32 consumers starting at once on a missing stream share one group without error or "
    "loss",
    "[stream][stress]") {
  constexpr int kConsumers = 32;
  constexpr int kEntries = 10000;
  RedisServer server;
  // Each consumer holds one connection while blocked and its handler another.
  auto client = patient_client(server, 2 * kConsumers + 4);
  std::atomic<int> warnings{0};
  flashsale::set_log_sink([&](flashsale::LogLevel level, std::string_view message) {
    if (level != flashsale::LogLevel::Info) {
      ++warnings;
      std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
    }
  });

  std::vector<std::unique_ptr<StreamConsumer>> consumers;
  for (int i = 0; i < kConsumers; ++i) {
    flashsale::StreamConsumerOptions options;
    options.streams = {kStream};
    options.group = kGroup;
    options.consumer = "c" + std::to_string(i);
    options.batch_size = 20;
    options.block_timeout = 300ms;
    options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
    consumers.push_back(std::make_unique<StreamConsumer>(*client, options));
  }
  std::atomic<int> ready{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (auto& consumer : consumers) {
    threads.emplace_back([&, raw = consumer.get()] {
      ++ready;
      while (ready < kConsumers) {
        std::this_thread::yield();
      }
      try {
        raw->run([&](const StreamMessage& message) {
          client->execute({{"SADD", kHandledSet, message.id}, kHandledSet, {}});
          client->execute({{"INCR", kHandlingCount}, kHandlingCount, {}});
          return HandlerOutcome::Ack;
        });
      } catch (const std::exception& error) {
        ++errors;
        std::fprintf(stderr, "consumer failed: %s\n", error.what());
      }
    });
  }
  const auto stop_all = [&] {
    for (auto& consumer : consumers) {
      consumer->stop();
    }
    for (auto& thread : threads) {
      thread.join();
    }
  };
  bool drained = false;
  try {
    produce(*client, kEntries, 500);
    drained = wait_until_drained(*client, kEntries);
  } catch (...) {
    stop_all();
    flashsale::set_log_sink({});
    throw;
  }
  stop_all();
  flashsale::set_log_sink({});
  REQUIRE(drained);
  CHECK(errors == 0);
  CHECK(warnings == 0);
  CHECK(handled_count(*client) == kEntries);
  CHECK(client->execute({{"GET", kHandlingCount}, kHandlingCount, {}}).as_integer() == kEntries);
  CHECK(client->execute({{"XINFO", "GROUPS", kStream}, kStream, {}}).as_array().size() == 1);
  std::int64_t delivered = 0;
  for (auto& consumer : consumers) {
    delivered += consumer->stats().delivered;
  }
  CHECK(delivered == kEntries);
}
