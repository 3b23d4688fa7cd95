// The restore path end to end, the way a host lives through Redis losing
// data: an RDB-only redis-server (appendonly no) is SIGKILLed in the middle of
// a coupon race (and of a reserve-and-confirm race) while a StreamConsumer
// persists the events into SQLite. The server restarts with nothing, or with
// the snapshot a BGSAVE took mid-race; the host begins a restore, lets the
// consumer drain what survived, restores from its SQLite rows and the race
// goes on under a new epoch.
//
// What is asserted: no persisted user ever gets a second unit, (coupon,
// epoch, sequence) is never handed out twice, issued <= total, and every
// acknowledged issue is either persisted or one of the "lost" ones — issues
// Redis acknowledged and then lost before the host persisted them. Those are
// the only units sold twice; their number is measured and printed, not
// asserted (it depends on how far the consumer lagged at the kill).
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "catch.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::CouponTemplate;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssuedUser;
using flashsale::IssueStatus;
using flashsale::RestoredHold;
using flashsale::StockItem;
using flashsale::StockReserver;
using flashsale::StreamConsumer;
using flashsale::StreamMessage;
using flashsale::testing::eventually;
using flashsale::testing::info_number;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;
using flashsale::testing::wait_until_loaded;

namespace {

// The host's database: what its StreamConsumer persisted. Thread-safe (one
// connection behind a mutex).
class HostDatabase {
 public:
  explicit HostDatabase(const std::string& path) {
    sqlite3* raw = nullptr;
    if (sqlite3_open(path.c_str(), &raw) != SQLITE_OK) {
      sqlite3_close(raw);
      throw std::runtime_error("cannot open " + path);
    }
    database_.reset(raw);
    // FLASHSALE_SLOW_HOST=1: a host that syncs every row to disk (rollback
    // journal, synchronous FULL) lags further behind the race, and loses more.
    const char* slow = std::getenv("FLASHSALE_SLOW_HOST");
    execute(slow != nullptr && std::string(slow) == "1"
                ? "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL;"
                : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    execute(
        "CREATE TABLE coupon_units (coupon TEXT NOT NULL, epoch INTEGER NOT NULL,"
        " sequence INTEGER NOT NULL, user TEXT NOT NULL,"
        " PRIMARY KEY (coupon, epoch, sequence), UNIQUE (coupon, user));"
        "CREATE TABLE confirmed_holds (scope TEXT NOT NULL, hold_id TEXT NOT NULL,"
        " epoch INTEGER NOT NULL, items TEXT NOT NULL, PRIMARY KEY (scope, hold_id));");
  }

  // An `issued` event. A redelivery (the same row) changes nothing; any other
  // clash on (coupon, epoch, sequence) or (coupon, user) is a unit handed out
  // twice that reached the host, counted in conflicts().
  void record_issued(const std::string& coupon, std::int64_t epoch, std::int64_t sequence,
                     const std::string& user) {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement insert(
        database_.get(),
        "INSERT INTO coupon_units (coupon, epoch, sequence, user) VALUES (?, ?, ?, ?)");
    sqlite3_bind_text(insert.get(), 1, coupon.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert.get(), 2, epoch);
    sqlite3_bind_int64(insert.get(), 3, sequence);
    sqlite3_bind_text(insert.get(), 4, user.c_str(), -1, SQLITE_TRANSIENT);
    const int status = sqlite3_step(insert.get());
    if (status == SQLITE_DONE) {
      return;
    }
    if ((status & 0xff) != SQLITE_CONSTRAINT) {
      throw std::runtime_error(sqlite3_errmsg(database_.get()));
    }
    Statement same(database_.get(),
                   "SELECT COUNT(*) FROM coupon_units WHERE coupon = ? AND epoch = ? AND"
                   " sequence = ? AND user = ?");
    sqlite3_bind_text(same.get(), 1, coupon.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(same.get(), 2, epoch);
    sqlite3_bind_int64(same.get(), 3, sequence);
    sqlite3_bind_text(same.get(), 4, user.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(same.get());
    if (sqlite3_column_int64(same.get(), 0) == 0) {
      ++conflicts_;
    }
  }

  // A `confirmed` event; a redelivery (same hold, same epoch) changes nothing,
  // the same hold confirmed in another epoch counts in conflicts().
  void record_confirmed(const std::string& scope, const std::string& hold_id, std::int64_t epoch,
                        const std::string& items) {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement insert(
        database_.get(),
        "INSERT INTO confirmed_holds (scope, hold_id, epoch, items) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (scope, hold_id) DO NOTHING");
    sqlite3_bind_text(insert.get(), 1, scope.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.get(), 2, hold_id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert.get(), 3, epoch);
    sqlite3_bind_text(insert.get(), 4, items.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) {
      throw std::runtime_error(sqlite3_errmsg(database_.get()));
    }
    if (sqlite3_changes(database_.get()) == 0) {
      Statement same(database_.get(),
                     "SELECT COUNT(*) FROM confirmed_holds WHERE scope = ? AND hold_id = ? AND"
                     " epoch = ?");
      sqlite3_bind_text(same.get(), 1, scope.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(same.get(), 2, hold_id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(same.get(), 3, epoch);
      sqlite3_step(same.get());
      if (sqlite3_column_int64(same.get(), 0) == 0) {
        ++conflicts_;
      }
    }
  }

  struct Unit {
    std::int64_t epoch;
    std::int64_t sequence;
    std::string user;
    bool operator<(const Unit& other) const {
      return std::tie(epoch, sequence, user) < std::tie(other.epoch, other.sequence, other.user);
    }
  };

  std::vector<Unit> coupon_units(const std::string& coupon) {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement select(database_.get(),
                     "SELECT epoch, sequence, user FROM coupon_units WHERE coupon = ?"
                     " ORDER BY epoch, sequence");
    sqlite3_bind_text(select.get(), 1, coupon.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<Unit> units;
    while (sqlite3_step(select.get()) == SQLITE_ROW) {
      units.push_back({sqlite3_column_int64(select.get(), 0), sqlite3_column_int64(select.get(), 1),
                       reinterpret_cast<const char*>(sqlite3_column_text(select.get(), 2))});
    }
    return units;
  }

  struct Hold {
    std::string hold_id;
    std::int64_t epoch;
    std::string items;  // "sku qty sku qty"
  };

  std::vector<Hold> confirmed_holds(const std::string& scope) {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement select(database_.get(),
                     "SELECT hold_id, epoch, items FROM confirmed_holds WHERE scope = ?");
    sqlite3_bind_text(select.get(), 1, scope.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<Hold> holds;
    while (sqlite3_step(select.get()) == SQLITE_ROW) {
      holds.push_back({reinterpret_cast<const char*>(sqlite3_column_text(select.get(), 0)),
                       sqlite3_column_int64(select.get(), 1),
                       reinterpret_cast<const char*>(sqlite3_column_text(select.get(), 2))});
    }
    return holds;
  }

  long long conflicts() const { return conflicts_.load(); }

 private:
  struct Closer {
    void operator()(sqlite3* database) const { sqlite3_close(database); }
  };
  class Statement {
   public:
    Statement(sqlite3* database, const char* sql) {
      if (sqlite3_prepare_v2(database, sql, -1, &statement_, nullptr) != SQLITE_OK) {
        throw std::runtime_error(sqlite3_errmsg(database));
      }
    }
    ~Statement() { sqlite3_finalize(statement_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    sqlite3_stmt* get() const { return statement_; }

   private:
    sqlite3_stmt* statement_ = nullptr;
  };

  void execute(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(database_.get(), sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error != nullptr ? error : "sqlite3_exec failed";
      sqlite3_free(error);
      throw std::runtime_error(message);
    }
  }

  std::mutex mutex_;
  std::unique_ptr<sqlite3, Closer> database_;
  std::atomic<long long> conflicts_{0};
};

std::string field(const StreamMessage& message, const std::string& name) {
  for (const auto& [key, value] : message.fields) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

// A StreamConsumer on its own thread, persisting into the host database, that
// lives through the server's death (it retries every failure after a pause).
class PersistingConsumer {
 public:
  PersistingConsumer(flashsale::Client& client, const std::string& stream,
                     flashsale::StreamHandler handler)
      : consumer_(client, options(stream)), handler_(std::move(handler)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        try {
          consumer_.poll_once(handler_);
        } catch (const flashsale::Error&) {
          std::this_thread::sleep_for(20ms);  // the server is down or loading
        }
        ++rounds_;
      }
    });
  }
  ~PersistingConsumer() {
    stop_.store(true);
    thread_.join();
  }
  PersistingConsumer(const PersistingConsumer&) = delete;
  PersistingConsumer& operator=(const PersistingConsumer&) = delete;

  // Whether everything the stream holds has been handled and acknowledged,
  // and the entries the consumer read before the server died (its round in
  // progress) are handled too: waits for a round that began after the call.
  bool drained(flashsale::Client& admin, const std::string& stream) {
    const long long start = rounds_.load();
    if (!eventually([&] { return rounds_.load() >= start + 2; })) {
      return false;
    }
    try {
      if (admin.execute({{"EXISTS", stream}, stream, {}}).as_integer() == 0) {
        return true;
      }
      const auto stats = consumer_.stats();
      return stats.pending == 0 && stats.lag == std::optional<std::int64_t>(0);
    } catch (const flashsale::Error&) {
      return false;
    }
  }

 private:
  static flashsale::StreamConsumerOptions options(const std::string& stream) {
    flashsale::StreamConsumerOptions options;
    options.streams = {stream};
    options.group = "host";
    options.consumer = "host-1";
    options.batch_size = 50;
    options.block_timeout = 100ms;
    // Entries the snapshot shows as delivered but unacknowledged come back
    // through the recovery sweep.
    options.claim_idle = 200ms;
    options.claim_interval = 100ms;
    options.retry_backoff = 20ms;
    options.max_deliveries = 1000;
    return options;
  }

  StreamConsumer consumer_;
  flashsale::StreamHandler handler_;
  std::atomic<bool> stop_{false};
  std::atomic<long long> rounds_{0};
  std::thread thread_;
};

void wait_for_background_save(RedisServer& server) {
  server.admin().execute({{"BGSAVE"}, {}, {}});
  REQUIRE(eventually([&] {
    return info_number(server.admin(), "persistence", "rdb_bgsave_in_progress:") == 0.0;
  }));
  REQUIRE(server.admin()
              .execute({{"INFO", "persistence"}, {}, {}})
              .as_string()
              .find("rdb_last_bgsave_status:ok") != std::string::npos);
}

// Starts the killed server again on its directory: it loads dump.rdb when a
// BGSAVE wrote one, else it starts empty.
void restart_after_crash(RedisServer& server) {
  server.restart();
  wait_until_loaded(server.admin());
}

struct Acknowledged {
  std::int64_t epoch;
  std::int64_t sequence;
  std::string user;
};

constexpr int kRacers = 8;

// The coupon race: SIGKILL at `kill_after` acknowledged issues (a BGSAVE at
// `save_after` when set), restart, restore from SQLite, race on.
void coupon_race_through_data_loss(std::optional<int> save_after) {
  constexpr std::int64_t kTotal = 1000;
  constexpr int kUsers = 4000;
  constexpr int kKillAfter = 600;
  const std::string coupon_id = "flash";
  const std::string stream = "fs:coupon:{flash}:events";

  RedisServer server;
  auto client = server.make_client(kRacers + 2);
  HostDatabase database(server.directory() + "/host.sqlite");
  FirstComeCouponIssuer issuer(*client);
  CouponTemplate coupon;
  coupon.id = coupon_id;
  coupon.total = kTotal;
  coupon.opens_at = server_now(*client) - 1h;
  coupon.closes_at = server_now(*client) + 1h;
  const std::int64_t first_epoch = issuer.register_template(coupon).epoch;

  PersistingConsumer consumer(*client, stream, [&](const StreamMessage& message) {
    if (field(message, "type") == "issued") {
      database.record_issued(field(message, "coupon"), std::stoll(field(message, "epoch")),
                             std::stoll(field(message, "sequence")), field(message, "user"));
    }
    return flashsale::HandlerOutcome::Ack;
  });

  std::mutex acknowledged_mutex;
  std::vector<Acknowledged> acknowledged;
  std::atomic<int> acknowledged_count{0};
  // Each racer takes users from `next` until `end` or its first failure.
  auto race = [&](std::atomic<int>& next, int end) {
    std::vector<std::thread> racers;
    for (int racer = 0; racer < kRacers; ++racer) {
      racers.emplace_back([&, end] {
        for (int user = next++; user < end; user = next++) {
          const std::string user_id = "user-" + std::to_string(user);
          try {
            const auto result = issuer.issue(coupon_id, user_id);
            if (result.status == IssueStatus::Issued) {
              std::lock_guard<std::mutex> lock(acknowledged_mutex);
              acknowledged.push_back({result.epoch, result.sequence, user_id});
              ++acknowledged_count;
            }
          } catch (const flashsale::Error&) {
            return;  // the server died: this racer's part of the sale is over
          }
          std::this_thread::sleep_for(1ms);
        }
      });
    }
    return racers;
  };

  std::atomic<int> next_user{0};
  auto racers = race(next_user, kUsers);
  if (save_after) {
    REQUIRE(eventually([&] { return acknowledged_count.load() >= *save_after; }));
    wait_for_background_save(server);
  }
  REQUIRE(eventually([&] { return acknowledged_count.load() >= kKillAfter; }));
  server.kill();
  for (auto& racer : racers) {
    racer.join();
  }
  const std::size_t acknowledged_before_kill = acknowledged.size();
  const std::size_t persisted_at_kill = database.coupon_units(coupon_id).size();
  restart_after_crash(server);

  // The restore procedure: stop the coupon, drain, read, restore, reopen.
  std::int64_t after_epoch = 0;
  for (const auto& unit : database.coupon_units(coupon_id)) {
    after_epoch = std::max(after_epoch, unit.epoch);
  }
  const std::int64_t epoch = issuer.begin_restore(coupon, after_epoch);
  REQUIRE(eventually([&] { return consumer.drained(*client, stream); }));
  const auto persisted = database.coupon_units(coupon_id);
  std::vector<IssuedUser> units;
  for (const auto& unit : persisted) {
    units.push_back({unit.user, unit.sequence});
  }
  for (std::size_t begin = 0; begin < units.size();
       begin += flashsale::kMaxCouponRestoredUnitsPerBatch) {
    const auto end = std::min(units.size(), begin + flashsale::kMaxCouponRestoredUnitsPerBatch);
    issuer.restore_issued(
        coupon_id, epoch,
        std::vector<IssuedUser>(units.begin() + static_cast<std::ptrdiff_t>(begin),
                                units.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  const auto restored = issuer.finish_restore(coupon_id, epoch);
  CHECK(restored.epoch > first_epoch);
  CHECK(restored.issued == static_cast<std::int64_t>(persisted.size()));
  CHECK(restored.remaining == kTotal - static_cast<std::int64_t>(persisted.size()));

  // The sale goes on: every user tries again, the ones who lost an
  // acknowledged issue included.
  std::atomic<int> second_round{0};
  auto second = race(second_round, kUsers);
  for (auto& racer : second) {
    racer.join();
  }
  REQUIRE(eventually([&] { return consumer.drained(*client, stream); }));

  const auto stats = issuer.stats(coupon_id);
  REQUIRE(stats.has_value());
  const auto final_rows = database.coupon_units(coupon_id);
  CHECK(database.conflicts() == 0);
  CHECK(stats->issued <= kTotal);
  CHECK(stats->issued == static_cast<std::int64_t>(final_rows.size()));

  std::set<std::pair<std::int64_t, std::int64_t>> identities;
  std::set<std::string> persisted_users;
  std::set<HostDatabase::Unit> persisted_set(persisted.begin(), persisted.end());
  for (const auto& unit : persisted) {
    persisted_users.insert(unit.user);
  }
  std::size_t lost = 0;
  std::size_t lost_reissued_to_same_user = 0;
  std::set<std::string> users_after_restore;
  std::set<std::pair<std::int64_t, std::int64_t>> acknowledged_before;
  for (std::size_t i = 0; i < acknowledged.size(); ++i) {
    const auto& ack = acknowledged[i];
    CHECK(identities.emplace(ack.epoch, ack.sequence).second);  // (epoch, sequence) once
    if (i < acknowledged_before_kill) {
      CHECK(ack.epoch == first_epoch);
      acknowledged_before.emplace(ack.epoch, ack.sequence);
      if (persisted_set.count({ack.epoch, ack.sequence, ack.user}) == 0) {
        ++lost;
      }
    } else {
      CHECK(ack.epoch == restored.epoch);
      CHECK(persisted_users.count(ack.user) == 0);  // no persisted user twice
      users_after_restore.insert(ack.user);
    }
  }
  for (std::size_t i = 0; i < acknowledged_before_kill; ++i) {
    const auto& ack = acknowledged[i];
    if (persisted_set.count({ack.epoch, ack.sequence, ack.user}) == 0 &&
        users_after_restore.count(ack.user) != 0) {
      ++lost_reissued_to_same_user;
    }
  }
  // Persisted but never acknowledged: the issues in flight at the kill.
  std::size_t in_flight = 0;
  for (const auto& unit : persisted) {
    if (acknowledged_before.count({unit.epoch, unit.sequence}) == 0) {
      ++in_flight;
    }
  }
  // Every issue acknowledged after the restore is persisted, next to the
  // ones restored; the lost ones are the only units handed out twice.
  const std::size_t acknowledged_after = acknowledged.size() - acknowledged_before_kill;
  CHECK(final_rows.size() == persisted.size() + acknowledged_after);
  if (stats->remaining == 0) {
    CHECK(static_cast<std::int64_t>(acknowledged.size() - lost + in_flight) == kTotal);
  }
  std::cout << "coupon restore (" << (save_after ? "BGSAVE mid-race" : "no snapshot")
            << "): acknowledged before the kill " << acknowledged_before_kill
            << ", persisted at the kill " << persisted_at_kill << ", persisted at restore "
            << persisted.size() << ", acknowledged and lost " << lost
            << " (of them issued again to the same user " << lost_reissued_to_same_user
            << "), persisted but never acknowledged " << in_flight << ", acknowledged in all "
            << acknowledged.size() << " for " << kTotal << " units, issued now " << stats->issued
            << "\n";
}

}  // namespace

TEST_CASE(
    "a coupon restored from the host's SQLite after an RDB-less server was SIGKILLed mid-race "
    "never gives a persisted user a second unit",
    "[restore][stress]") {
  coupon_race_through_data_loss(std::nullopt);
}

TEST_CASE(
    "a coupon restored from the host's SQLite after a SIGKILL that rolled Redis back to a "
    "mid-race snapshot never gives a persisted user a second unit",
    "[restore][stress]") {
  coupon_race_through_data_loss(300);
}

TEST_CASE(
    "stock restored from the host's confirmed holds after a SIGKILL that rolled Redis back to a "
    "mid-race snapshot never confirms more than the stock",
    "[restore][stress]") {
  constexpr std::int64_t kStock = 500;
  constexpr int kHolds = 2000;
  const std::string scope = "deal";
  const std::string stream = "fs:stock:{deal}:events";

  RedisServer server;
  auto client = server.make_client(kRacers + 2);
  HostDatabase database(server.directory() + "/host.sqlite");
  StockReserver reserver(*client);
  const std::vector<StockItem> stock = {{"red", kStock}};
  reserver.load(scope, stock);
  const std::int64_t first_epoch = reserver.snapshot(scope).epoch;

  PersistingConsumer consumer(*client, stream, [&](const StreamMessage& message) {
    if (field(message, "type") == "confirmed") {
      database.record_confirmed(scope, field(message, "hold_id"),
                                std::stoll(field(message, "epoch")), field(message, "items"));
    }
    return flashsale::HandlerOutcome::Ack;
  });

  std::mutex confirmed_mutex;
  std::vector<std::pair<std::int64_t, std::string>> confirmed;  // epoch, hold id
  std::atomic<int> confirmed_count{0};
  auto race = [&](std::atomic<int>& next) {
    std::vector<std::thread> racers;
    for (int racer = 0; racer < kRacers; ++racer) {
      racers.emplace_back([&] {
        for (int hold = next++; hold < kHolds; hold = next++) {
          const std::string hold_id = "hold-" + std::to_string(hold);
          try {
            const auto reserved = reserver.reserve(scope, hold_id, {{"red", 1}}, 60s);
            if (reserved.status != flashsale::ReserveStatus::Reserved) {
              continue;
            }
            const auto result = reserver.confirm(scope, hold_id);
            if (result.status == flashsale::ConfirmStatus::Confirmed) {
              std::lock_guard<std::mutex> lock(confirmed_mutex);
              confirmed.emplace_back(result.epoch, hold_id);
              ++confirmed_count;
            }
          } catch (const flashsale::Error&) {
            return;
          }
          std::this_thread::sleep_for(1ms);
        }
      });
    }
    return racers;
  };

  std::atomic<int> next_hold{0};
  auto racers = race(next_hold);
  REQUIRE(eventually([&] { return confirmed_count.load() >= 150; }));
  wait_for_background_save(server);
  REQUIRE(eventually([&] { return confirmed_count.load() >= 300; }));
  server.kill();
  for (auto& racer : racers) {
    racer.join();
  }
  const std::size_t confirmed_before_kill = confirmed.size();
  restart_after_crash(server);

  std::int64_t after_epoch = first_epoch;
  for (const auto& hold : database.confirmed_holds(scope)) {
    after_epoch = std::max(after_epoch, hold.epoch);
  }
  const std::int64_t epoch = reserver.begin_restore(scope, stock, after_epoch);
  REQUIRE(eventually([&] { return consumer.drained(*client, stream); }));
  const auto persisted = database.confirmed_holds(scope);
  std::vector<RestoredHold> holds;
  std::set<std::string> persisted_ids;
  for (const auto& hold : persisted) {
    const auto space = hold.items.find(' ');
    REQUIRE(space != std::string::npos);
    holds.push_back(
        {hold.hold_id, {{hold.items.substr(0, space), std::stoll(hold.items.substr(space + 1))}}});
    persisted_ids.insert(hold.hold_id);
  }
  for (std::size_t begin = 0; begin < holds.size();
       begin += flashsale::kMaxStockRestoredHoldsPerBatch) {
    const auto end = std::min(holds.size(), begin + flashsale::kMaxStockRestoredHoldsPerBatch);
    reserver.restore_confirmed(
        scope, epoch,
        std::vector<RestoredHold>(holds.begin() + static_cast<std::ptrdiff_t>(begin),
                                  holds.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  const auto restored = reserver.finish_restore(scope, epoch);
  CHECK(restored.epoch > first_epoch);
  CHECK(restored.skus.at(0).confirmed == static_cast<std::int64_t>(persisted.size()));

  // The sale goes on: every hold id is tried again, the lost ones included.
  std::atomic<int> second_round{0};
  auto second = race(second_round);
  for (auto& racer : second) {
    racer.join();
  }
  REQUIRE(eventually([&] { return consumer.drained(*client, stream); }));

  const auto snapshot = reserver.snapshot(scope);
  REQUIRE(snapshot.skus.size() == 1);
  const auto& red = snapshot.skus[0];
  CHECK(red.initial == red.available + red.held + red.confirmed);
  CHECK(red.confirmed <= kStock);
  CHECK(database.conflicts() == 0);
  const auto final_rows = database.confirmed_holds(scope);
  CHECK(red.confirmed == static_cast<std::int64_t>(final_rows.size()));

  std::size_t lost = 0;
  for (std::size_t i = 0; i < confirmed.size(); ++i) {
    if (i < confirmed_before_kill) {
      CHECK(confirmed[i].first == first_epoch);
      if (persisted_ids.count(confirmed[i].second) == 0) {
        ++lost;
      }
    } else {
      CHECK(confirmed[i].first == restored.epoch);
      CHECK(persisted_ids.count(confirmed[i].second) == 0);  // no persisted hold twice
    }
  }
  const std::size_t confirmed_after = confirmed.size() - confirmed_before_kill;
  CHECK(final_rows.size() == persisted.size() + confirmed_after);
  std::cout << "stock restore (BGSAVE mid-race): confirmed before the kill "
            << confirmed_before_kill << ", persisted at restore " << persisted.size()
            << ", confirmed and lost " << lost << ", confirmed in all " << confirmed.size()
            << " for " << kStock << " units, confirmed now " << red.confirmed << "\n";
}
