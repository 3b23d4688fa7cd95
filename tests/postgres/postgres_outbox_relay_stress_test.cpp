// Several relay processes on one PostgreSQL outbox, SIGKILLed over and over
// while concurrent writers commit 10,000 records (transactions of one
// aggregate taking their ids in one order and committing in another, and
// some rolled back): every committed record reaches the Redis stream exactly
// once, nothing rolled back does, and each aggregate's records appear in
// their commit (= id) order.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../redis/outbox_test_support.hpp"
#include "catch.hpp"
#include "flashsale/postgres_outbox_store.hpp"
#include "postgres_server.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"
#include "test_program.hpp"

using flashsale::testing::PostgresConnection;
using flashsale::testing::PostgresServer;
using flashsale::testing::RedisServer;

namespace {

constexpr int kCommittedRecords = 10000;
constexpr int kWriters = 4;
// Few aggregates, so writers often append to the same one at once: with the
// append's aggregate lock removed, this test saw inversions.
constexpr int kAggregates = 8;
constexpr int kMinimumKills = 15;
constexpr const char* kLeaseMs = "1000";

void run_killed_relays(int relays) {
  PostgresServer postgres;
  RedisServer redis;
  {
    PostgresConnection admin(postgres);
    admin.execute("CREATE DATABASE shop");
  }
  PostgresConnection(postgres.conninfo() + " dbname=shop")
      .execute("CREATE TABLE orders (id TEXT PRIMARY KEY)");
  const std::string conninfo = postgres.conninfo() + " dbname=shop";
  flashsale::PostgresOutboxStore store(conninfo);  // creates the tables; counts below
  const std::string redis_port = std::to_string(redis.port());

  std::mutex committed_mutex;
  std::set<std::int64_t> committed;
  std::atomic<int> committed_count{0};
  std::atomic<int> rolled_back{0};
  std::vector<std::thread> writers;
  for (int writer = 0; writer < kWriters; ++writer) {
    writers.emplace_back([&, writer] {
      PostgresConnection host(conninfo);
      std::mt19937 random(100 + writer);
      int transaction = 0;
      while (committed_count.load() < kCommittedRecords) {
        ++transaction;
        const bool roll_back = random() % 10 == 0;
        const int records = 1 + static_cast<int>(random() % 3);
        const std::string aggregate = "agg-" + std::to_string(random() % kAggregates);
        const std::string tag = std::to_string(writer) + "-" + std::to_string(transaction);
        std::vector<std::int64_t> ids;
        host.execute("BEGIN");
        host.execute("INSERT INTO orders VALUES ('" + tag + "')");
        for (int record = 0; record < records; ++record) {
          ids.push_back(flashsale::PostgresOutboxStore::append(
              host.get(), {"order", aggregate, "order_placed",
                           (roll_back ? "rolled-back-" : "committed-") + tag}));
        }
        // Hold the transaction open a moment: other writers take later ids
        // for other aggregates and commit first.
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 4000));
        if (roll_back) {
          host.execute("ROLLBACK");
          ++rolled_back;
          continue;
        }
        host.execute("COMMIT");
        const std::lock_guard<std::mutex> lock(committed_mutex);
        committed.insert(ids.begin(), ids.end());
        committed_count += records;
      }
    });
  }

  std::vector<pid_t> workers;
  const auto start_worker = [&] {
    return flashsale::testing::start_test_program("postgres_relay_worker",
                                                  {conninfo, redis_port, kLeaseMs, "13"});
  };
  for (int i = 0; i < relays; ++i) {
    workers.push_back(start_worker());
  }
  int kills = 0;
  int unexpected_exits = 0;
  std::mt19937 random(5);
  // Kill one relay at a random moment every 50-250 ms while the writers
  // write (and at least kMinimumKills times), then let the relays drain the
  // rest (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool drained = false;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + random() % 200));
    if (committed_count.load() < kCommittedRecords || kills < kMinimumKills) {
      auto& victim = workers[random() % workers.size()];
      ::kill(victim, SIGKILL);
      const int status = flashsale::testing::wait_for_exit(victim);
      if (flashsale::testing::killed_by_sigkill(status)) {
        ++kills;
      } else {
        ++unexpected_exits;
      }
      victim = start_worker();
      continue;
    }
    const auto counts = store.counts();
    if (counts.pending == 0 && counts.blocked == 0) {
      drained = true;
      break;
    }
  }
  for (auto& writer : writers) {
    writer.join();
  }
  for (const auto worker : workers) {
    ::kill(worker, SIGKILL);
    const int status = flashsale::testing::wait_for_exit(worker);
    if (!flashsale::testing::killed_by_sigkill(status)) {
      ++unexpected_exits;
    }
  }

  INFO("relays " << relays << ", kills " << kills << ", rolled back transactions "
                 << rolled_back.load());
  CHECK(drained);
  CHECK(unexpected_exits == 0);
  CHECK(kills >= kMinimumKills);
  CHECK(rolled_back.load() > 0);
  REQUIRE(committed.size() >= static_cast<std::size_t>(kCommittedRecords));

  std::map<std::int64_t, int> occurrences;
  std::map<std::string, std::vector<std::int64_t>> stream_order;
  long long rolled_back_published = 0;
  for (const auto& entry : flashsale::testing::read_stream(redis.admin(), "fs:outbox:{order}")) {
    const auto id = flashsale::testing::outbox_id_of(entry);
    ++occurrences[id];
    stream_order[entry.fields.at("aggregate_id")].push_back(id);
    if (entry.fields.at("payload").rfind("rolled-back-", 0) == 0) {
      ++rolled_back_published;
    }
  }
  long long lost = 0;
  long long duplicated = 0;
  for (const auto id : committed) {
    const auto found = occurrences.find(id);
    if (found == occurrences.end()) {
      ++lost;
    } else if (found->second > 1) {
      duplicated += found->second - 1;
    }
  }
  long long inversions = 0;
  for (const auto& [aggregate, ids] : stream_order) {
    for (std::size_t i = 1; i < ids.size(); ++i) {
      if (ids[i] <= ids[i - 1]) {
        ++inversions;
      }
    }
  }
  CHECK(lost == 0);
  CHECK(duplicated == 0);
  CHECK(inversions == 0);
  CHECK(rolled_back_published == 0);
  CHECK(occurrences.size() == committed.size());
  const auto counts = store.counts();
  CHECK(counts.published == static_cast<std::int64_t>(committed.size()));
}

}  // namespace

TEST_CASE(
    "two relay processes SIGKILLed repeatedly over 10,000 committed records lose, "
    "duplicate and reorder nothing",
    "[outbox][postgres][stress]") {
  run_killed_relays(2);
}

TEST_CASE(
    "four relay processes SIGKILLed repeatedly over 10,000 committed records lose, "
    "duplicate and reorder nothing",
    "[outbox][postgres][stress]") {
  run_killed_relays(4);
}
