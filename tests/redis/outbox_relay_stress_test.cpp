// The outbox crash matrix: relay processes SIGKILLed after fetching, after
// publishing and after marking (by themselves), and at random moments (by the
// test), more than 100 times, while the host commits
// 10,000 records (and rolls back others) from another process' connection.
// Nothing committed is lost, nothing is duplicated in the streams, nothing
// rolled back is published, and every aggregate's records appear in order.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/sqlite_outbox_store.hpp"
#include "outbox_test_support.hpp"
#include "redis_server.hpp"

using flashsale::testing::HostDatabase;
using flashsale::testing::outbox_id_of;
using flashsale::testing::read_stream;
using flashsale::testing::RedisServer;
using flashsale::testing::TemporaryDirectory;

TEST_CASE("relay processes killed at every point lose, duplicate and reorder nothing",
          "[outbox][stress]") {
  constexpr int kCommittedRecords = 10000;
  constexpr int kAggregatesPerType = 40;
  constexpr int kMinimumKills = 100;
  const std::vector<std::string> kTypes = {"order", "payment"};

  RedisServer server;
  TemporaryDirectory directory;
  const std::string db = directory.file("app.db");
  HostDatabase setup(db);

  // The host: committed transactions of 1..4 records next to a business
  // row, and every 10th transaction rolled back.
  std::atomic<bool> writer_done{false};
  std::set<std::int64_t> committed;
  std::thread writer([&] {
    HostDatabase host(db);
    std::mt19937 random(7);
    int appended = 0;
    int transaction = 0;
    while (appended < kCommittedRecords) {
      const bool roll_back = ++transaction % 10 == 0;
      const int records =
          std::min<int>(1 + static_cast<int>(random() % 4), kCommittedRecords - appended);
      std::vector<std::int64_t> ids;
      host.execute("BEGIN IMMEDIATE");
      host.execute("INSERT OR REPLACE INTO orders VALUES ('t" + std::to_string(transaction) +
                   "', " + std::to_string(records) + ")");
      for (int record = 0; record < records; ++record) {
        const auto& type = kTypes[random() % kTypes.size()];
        const std::string aggregate = "agg-" + std::to_string(random() % kAggregatesPerType);
        const std::string payload = (roll_back ? "rolled-back-" : "committed-") +
                                    std::to_string(transaction) + "-" + std::to_string(record);
        ids.push_back(flashsale::SqliteOutboxStore::append(
            host.handle(), {type, aggregate, "order_placed", payload}));
      }
      if (roll_back) {
        host.execute("ROLLBACK");
        continue;
      }
      host.execute("COMMIT");
      committed.insert(ids.begin(), ids.end());
      appended += records;
      if (transaction % 50 == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    writer_done = true;
  });

  const std::string port = std::to_string(server.port());
  const std::vector<std::string> kill_points = {"fetch", "publish", "mark"};
  std::map<std::string, int> kills;
  int total_kills = 0;
  int clean_exits = 0;
  int other_exits = 0;
  std::mt19937 random(11);
  flashsale::SqliteOutboxStore store(db);
  for (int run = 0; run < 5000; ++run) {
    // Kills until the end: a worker that finds less work than its kill point
    // needs exits cleanly once idle.
    if (writer_done && store.counts().pending == 0) {
      break;
    }
    const auto& point = kill_points[run % kill_points.size()];
    // Small steps, so the 10,000 records take well over kMinimumKills runs
    // however fast the machine drains them.
    const std::string kill_after =
        std::to_string(point == "publish" ? 1 + random() % 40 : 1 + random() % 2);
    if (run % 10 == 0) {
      server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
    }
    int status = 0;
    std::string killed_at = point;
    if (run % 4 == 3) {
      // Killed from outside at a random moment: inside a SQLite commit, in
      // the middle of a Redis call, anywhere.
      killed_at = "outside";
      const pid_t worker = flashsale::testing::start_relay_worker({db, port, "none", "1", "7"});
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + random() % 40));
      ::kill(worker, SIGKILL);
      status = flashsale::testing::wait_for_worker(worker);
    } else {
      status = flashsale::testing::run_relay_worker({db, port, point, kill_after, "7"});
    }
    if (flashsale::testing::killed_by_sigkill(status)) {
      ++kills[killed_at];
      ++total_kills;
    } else if (flashsale::testing::exited_cleanly(status)) {
      ++clean_exits;
    } else {
      ++other_exits;
    }
  }
  writer.join();

  INFO("kills after fetch " << kills["fetch"] << ", after publish " << kills["publish"]
                            << ", after mark " << kills["mark"] << ", from outside "
                            << kills["outside"] << ", clean exits " << clean_exits);
  CHECK(other_exits == 0);
  CHECK(total_kills >= kMinimumKills);
  CHECK(kills["fetch"] > 0);
  CHECK(kills["publish"] > 0);
  CHECK(kills["mark"] > 0);
  CHECK(kills["outside"] > 0);
  REQUIRE(committed.size() == kCommittedRecords);
  const auto counts = store.counts();
  CHECK(counts.pending == 0);
  CHECK(counts.blocked == 0);
  CHECK(counts.published == kCommittedRecords);

  std::map<std::int64_t, int> occurrences;
  long long inversions = 0;
  long long rolled_back_published = 0;
  for (const auto& type : kTypes) {
    std::map<std::string, std::int64_t> last_id_of_aggregate;
    for (const auto& entry : read_stream(server.admin(), "fs:outbox:{" + type + "}")) {
      ++occurrences[outbox_id_of(entry)];
      CHECK(entry.fields.at("aggregate_type") == type);
      if (entry.fields.at("payload").rfind("rolled-back-", 0) == 0) {
        ++rolled_back_published;
      }
      auto& last = last_id_of_aggregate[entry.fields.at("aggregate_id")];
      if (outbox_id_of(entry) <= last) {
        ++inversions;
      }
      last = outbox_id_of(entry);
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
  CHECK(lost == 0);
  CHECK(duplicated == 0);
  CHECK(inversions == 0);
  CHECK(rolled_back_published == 0);
  CHECK(occurrences.size() == committed.size());
}
