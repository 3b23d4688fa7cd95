// The components' races on a real 3-master cluster: coupons and stock scopes
// spread over every master, a slot resharded while coupons are issued, a
// consumer reading streams of three masters, and a master restarted under
// load. The invariants of the standalone races hold unchanged.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "lua/test_scripts.hpp"
#include "redis_cluster.hpp"

using namespace std::chrono_literals;
using flashsale::ClusterClient;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssueResult;
using flashsale::IssueStatus;
using flashsale::testing::RedisCluster;
using flashsale::testing::RedisClusterOptions;

namespace {

constexpr int kThreads = 32;
constexpr int kCouponCount = 3;
constexpr std::int64_t kUnitsPerCoupon = 3'000;
constexpr int kUsersPerCoupon = 4'000;
constexpr int kTriesPerUser = 5;
// Call i asks for coupon i % 3 for user (i / 3) % kUsersPerCoupon: every user
// of a coupon calls kTriesPerUser times, spread over the whole race.
constexpr int kCouponCalls = kCouponCount * kUsersPerCoupon * kTriesPerUser;

std::string user_name(int user) {
  return "user-" + std::to_string(user);
}

std::chrono::system_clock::time_point server_now(flashsale::Client& client) {
  const auto& script = flashsale::testing::scripts::server_time_ms;
  return std::chrono::system_clock::time_point(
      std::chrono::milliseconds(client.run_script({&script, {}, {}}).as_integer()));
}

// One coupon per master, each registered with kUnitsPerCoupon units.
std::vector<std::string> register_coupons(RedisCluster& cluster, flashsale::Client& client,
                                          FirstComeCouponIssuer& issuer) {
  std::vector<std::string> coupons;
  for (int node = 0; node < kCouponCount; ++node) {
    flashsale::CouponTemplate coupon;
    coupon.id = cluster.tag_on_node(static_cast<std::size_t>(node), "coupon");
    coupon.total = kUnitsPerCoupon;
    coupon.opens_at = server_now(client) - 1h;
    coupon.closes_at = coupon.opens_at + 25h;
    REQUIRE(issuer.register_template(coupon).status == flashsale::RegisterStatus::Created);
    coupons.push_back(coupon.id);
  }
  return coupons;
}

std::string coupon_key(const std::string& coupon, const std::string& suffix) {
  return "fs:coupon:{" + coupon + "}:" + suffix;
}

struct CouponRace {
  std::vector<std::string> coupons;
  std::vector<IssueResult> results;  // by call index
  std::vector<std::string> errors;   // errors that reached a caller (not retried)
  std::atomic<int> completed{0};
};

// Runs every call once on kThreads threads. With `retry_errors`, a call that
// fails with ConnectionError is retried with the same coupon and user (as a
// host must: the call may have run), and the error is recorded in
// `retried_errors` instead of `errors`.
void run_coupon_race(FirstComeCouponIssuer& issuer, CouponRace& race, bool retry_errors,
                     std::vector<std::string>* retried_errors = nullptr) {
  race.results.assign(kCouponCalls, IssueResult{});
  std::atomic<int> next_call{0};
  std::mutex errors_mutex;
  std::vector<std::thread> callers;
  for (int thread = 0; thread < kThreads; ++thread) {
    callers.emplace_back([&] {
      constexpr int kChunk = 32;
      for (;;) {
        const int first = next_call.fetch_add(kChunk);
        if (first >= kCouponCalls) {
          return;
        }
        for (int call = first; call < std::min(first + kChunk, kCouponCalls); ++call) {
          const std::string& coupon = race.coupons[call % kCouponCount];
          const std::string user = user_name((call / kCouponCount) % kUsersPerCoupon);
          for (int attempt = 1;; ++attempt) {
            try {
              race.results[call] = issuer.issue(coupon, user);
              break;
            } catch (const flashsale::ConnectionError& error) {
              const std::lock_guard<std::mutex> lock(errors_mutex);
              if (!retry_errors || attempt == 1000) {
                race.errors.emplace_back(error.what());
                break;
              }
              retried_errors->emplace_back(error.what());
            } catch (const flashsale::Error& error) {
              const std::lock_guard<std::mutex> lock(errors_mutex);
              race.errors.emplace_back(error.what());
              break;
            }
            std::this_thread::sleep_for(20ms);
          }
          race.completed.fetch_add(1);
        }
      }
    });
  }
  for (auto& caller : callers) {
    caller.join();
  }
}

// Per coupon: exactly kUnitsPerCoupon issued, to distinct users, sequences
// exactly 1..N in the replies and in the events stream, stock 0.
void check_coupon_race(flashsale::Client& client, const CouponRace& race) {
  INFO("errors: " << race.errors.size() << ", e.g. "
                  << (race.errors.empty() ? "" : race.errors.front()));
  REQUIRE(race.errors.empty());
  std::set<std::int64_t> one_to_n;
  for (std::int64_t sequence = 1; sequence <= kUnitsPerCoupon; ++sequence) {
    one_to_n.insert(sequence);
  }
  for (int index = 0; index < kCouponCount; ++index) {
    const std::string& coupon = race.coupons[index];
    INFO("coupon " << coupon);
    // A user's Issued / AlreadyIssued replies all name one sequence (after a
    // lost reply, the retry's AlreadyIssued is the only one).
    std::vector<std::int64_t> sequence_of_user(kUsersPerCoupon, 0);
    int inconsistent = 0;
    int issued_replies = 0;
    int unexpected = 0;
    for (int call = index; call < kCouponCalls; call += kCouponCount) {
      const auto& result = race.results[call];
      const int user = (call / kCouponCount) % kUsersPerCoupon;
      if (result.status == IssueStatus::Issued || result.status == IssueStatus::AlreadyIssued) {
        issued_replies += result.status == IssueStatus::Issued ? 1 : 0;
        auto& known = sequence_of_user[user];
        if (known != 0 && known != result.sequence) {
          ++inconsistent;
        }
        known = result.sequence;
      } else if (result.status != IssueStatus::SoldOut || result.remaining != 0) {
        ++unexpected;
      }
    }
    CHECK(inconsistent == 0);
    CHECK(unexpected == 0);
    CHECK(issued_replies <= kUnitsPerCoupon);
    std::set<std::int64_t> sequences;
    for (const auto sequence : sequence_of_user) {
      if (sequence != 0) {
        sequences.insert(sequence);
      }
    }
    CHECK(sequences == one_to_n);

    const std::string stock = coupon_key(coupon, "stock");
    const std::string issued = coupon_key(coupon, "issued");
    const std::string events = coupon_key(coupon, "events");
    CHECK(client.execute({{"GET", stock}, stock, {}}).as_integer() == 0);
    CHECK(client.execute({{"HLEN", issued}, issued, {}}).as_integer() == kUnitsPerCoupon);
    const auto entries = client.execute({{"XRANGE", events, "-", "+"}, events, {}});
    REQUIRE(entries.as_array().size() == static_cast<std::size_t>(kUnitsPerCoupon));
    std::set<std::int64_t> stream_sequences;
    std::set<std::string> stream_users;
    int wrong_user = 0;
    for (const auto& entry : entries.as_array()) {
      std::map<std::string, std::string> fields;
      const auto& values = entry.as_array().at(1).as_array();
      for (std::size_t field = 0; field + 1 < values.size(); field += 2) {
        fields[values[field].as_string()] = values[field + 1].as_string();
      }
      const std::int64_t sequence = std::stoll(fields["sequence"]);
      stream_sequences.insert(sequence);
      stream_users.insert(fields["user"]);
      if (sequence_of_user.at(std::stoi(fields["user"].substr(5))) != sequence) {
        ++wrong_user;
      }
    }
    CHECK(wrong_user == 0);
    CHECK(stream_users.size() == static_cast<std::size_t>(kUnitsPerCoupon));
    CHECK(stream_sequences == sequences);
  }
}

}  // namespace

TEST_CASE(
    "coupon race on 3 masters: 60,000 calls for 3 coupons x 3,000 units, exactly 3,000 "
    "issued per coupon, once per user",
    "[cluster][coupon][stress]") {
  RedisCluster cluster;
  auto client = cluster.make_client(kThreads);
  FirstComeCouponIssuer issuer(*client);
  CouponRace race;
  race.coupons = register_coupons(cluster, *client, issuer);
  std::set<std::size_t> masters;
  for (const auto& coupon : race.coupons) {
    masters.insert(cluster.master_of_slot(flashsale::hash_slot(coupon)));
  }
  REQUIRE(masters.size() == 3);

  run_coupon_race(issuer, race, false);
  check_coupon_race(*client, race);
}

TEST_CASE(
    "coupon race while a coupon's slot migrates to another master, again and again - no "
    "error reaches a caller, none oversold or issued twice",
    "[cluster][coupon][stress][migration]") {
  RedisCluster cluster;
  auto options = cluster.client_options(kThreads);
  options.retry_budget = 60s;  // TRYAGAIN while a script's keys are split between two masters
  ClusterClient client(options);
  FirstComeCouponIssuer issuer(client);
  CouponRace race;
  race.coupons = register_coupons(cluster, client, issuer);
  const std::uint16_t slot = flashsale::hash_slot(race.coupons[0]);

  std::atomic<bool> done{false};
  int migrations = 0;
  int migrations_during_race = 0;
  std::thread migrator([&] {
    // Moves the slot around the masters until the race ends, one key per
    // MIGRATE with a pause between, so callers meet the half-moved slot
    // (ASK, TRYAGAIN) as well as the moved one (MOVED).
    while (!done) {
      const std::size_t to = (cluster.master_of_slot(slot) + 1) % cluster.size();
      cluster.migrate_slot(slot, to, 1, [] { std::this_thread::sleep_for(30ms); });
      ++migrations;
      migrations_during_race += done ? 0 : 1;
      std::this_thread::sleep_for(200ms);  // calls also meet the settled slot
    }
  });
  run_coupon_race(issuer, race, false);
  done = true;
  migrator.join();

  INFO("slot migrations " << migrations);
  CHECK(migrations_during_race >= 1);
  check_coupon_race(client, race);
}

TEST_CASE(
    "coupon race while the master of a coupon restarts (AOF, fsync always) - failures are "
    "ConnectionErrors, retries with the same ids lose and double nothing",
    "[cluster][coupon][stress][restart]") {
  RedisClusterOptions cluster_options;
  cluster_options.config_lines = {"appendonly yes", "appendfsync always"};
  // Long enough that the other masters never mark the restarted one failed
  // (with no replica the whole cluster would be down): only its slots are
  // unreachable for a moment.
  cluster_options.node_timeout = 30s;
  RedisCluster cluster(cluster_options);
  auto options = cluster.client_options(kThreads);
  // Commands sent when the node died fail at once with ConnectionError (they
  // may have run). New calls wait out the outage within the budget: refused
  // connections, then CLUSTERDOWN from the restarted node until it rejoins
  // (up to 5 s, min(node timeout, 5 s)).
  options.retry_budget = 30s;
  options.connection.command_timeout = 5s;
  ClusterClient client(options);
  FirstComeCouponIssuer issuer(client);
  CouponRace race;
  race.coupons = register_coupons(cluster, client, issuer);
  const std::size_t restarted = cluster.master_of_slot(flashsale::hash_slot(race.coupons[1]));

  std::vector<std::string> retried_errors;
  std::thread callers([&] { run_coupon_race(issuer, race, true, &retried_errors); });
  while (race.completed.load() < kCouponCalls / 4) {
    std::this_thread::sleep_for(5ms);
  }
  const int completed_before_restart = race.completed.load();
  // SIGKILL while calls are in flight, then the same port and nodes.conf.
  cluster.node(restarted).kill();
  std::this_thread::sleep_for(1500ms);
  cluster.restart_node(restarted);
  const int completed_after_restart = race.completed.load();
  callers.join();

  INFO("errors retried: " << retried_errors.size() << ", e.g. "
                          << (retried_errors.empty() ? "" : retried_errors.front()));
  CHECK(completed_before_restart < kCouponCalls);
  CHECK(completed_after_restart < kCouponCalls);
  CHECK_FALSE(retried_errors.empty());
  check_coupon_race(client, race);
}

namespace {

constexpr int kSkusPerScope = 6;
constexpr std::int64_t kUnitsPerSku = 1'500;
constexpr int kReserveCalls = 30'000;

std::string sku_name(int sku) {
  return "sku-" + std::to_string(sku);
}

}  // namespace

TEST_CASE(
    "stock race on 3 masters: 30,000 carts of 1-3 SKUs over 3 scopes, none oversold, "
    "held + confirmed = what the replies reserved",
    "[cluster][stock][stress]") {
  RedisCluster cluster;
  auto client = cluster.make_client(kThreads);
  flashsale::StockReserver reserver(*client);
  std::vector<std::string> scopes;
  for (std::size_t node = 0; node < cluster.size(); ++node) {
    scopes.push_back(cluster.tag_on_node(node, "deal"));
    std::vector<flashsale::StockItem> stock;
    for (int sku = 0; sku < kSkusPerScope; ++sku) {
      stock.push_back({sku_name(sku), kUnitsPerSku});
    }
    REQUIRE(reserver.load(scopes.back(), stock).status == flashsale::LoadStatus::Loaded);
  }

  // reserved[scope][sku] / confirmed[scope][sku]: units the replies granted.
  std::vector<std::vector<std::atomic<std::int64_t>>> reserved(scopes.size());
  std::vector<std::vector<std::atomic<std::int64_t>>> confirmed(scopes.size());
  for (std::size_t scope = 0; scope < scopes.size(); ++scope) {
    reserved[scope] = std::vector<std::atomic<std::int64_t>>(kSkusPerScope);
    confirmed[scope] = std::vector<std::atomic<std::int64_t>>(kSkusPerScope);
  }
  std::atomic<int> next_call{0};
  std::atomic<int> short_of_stock{0};
  std::atomic<int> unexpected{0};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> callers;
  for (int thread = 0; thread < kThreads; ++thread) {
    callers.emplace_back([&, thread] {
      std::mt19937 random(static_cast<unsigned>(thread));
      for (int call = next_call++; call < kReserveCalls; call = next_call++) {
        const std::size_t scope = static_cast<std::size_t>(call) % scopes.size();
        std::vector<int> skus(kSkusPerScope);
        for (int sku = 0; sku < kSkusPerScope; ++sku) {
          skus[sku] = sku;
        }
        std::shuffle(skus.begin(), skus.end(), random);
        skus.resize(1 + random() % 3);
        std::vector<flashsale::StockItem> cart;
        for (const int sku : skus) {
          cart.push_back({sku_name(sku), static_cast<std::int64_t>(1 + random() % 2)});
        }
        const std::string hold = "hold-" + std::to_string(call);
        try {
          const auto result = reserver.reserve(scopes[scope], hold, cart, 1h);
          if (result.status != flashsale::ReserveStatus::Reserved) {
            ++(result.status == flashsale::ReserveStatus::InsufficientStock ? short_of_stock
                                                                            : unexpected);
            continue;
          }
          const bool confirm = call % 2 == 0;
          if (confirm &&
              reserver.confirm(scopes[scope], hold).status != flashsale::ConfirmStatus::Confirmed) {
            ++unexpected;
          }
          for (std::size_t item = 0; item < cart.size(); ++item) {
            reserved[scope][skus[item]] += cart[item].quantity;
            if (confirm) {
              confirmed[scope][skus[item]] += cart[item].quantity;
            }
          }
        } catch (const flashsale::Error& error) {
          const std::lock_guard<std::mutex> lock(errors_mutex);
          errors.emplace_back(error.what());
        }
      }
    });
  }
  for (auto& caller : callers) {
    caller.join();
  }

  REQUIRE(errors.empty());
  CHECK(unexpected.load() == 0);
  CHECK(short_of_stock.load() > 0);  // demand exceeded the stock
  for (std::size_t scope = 0; scope < scopes.size(); ++scope) {
    const auto snapshot = reserver.snapshot(scopes[scope]);
    REQUIRE(snapshot.skus.size() == static_cast<std::size_t>(kSkusPerScope));
    for (const auto& figures : snapshot.skus) {
      INFO("scope " << scopes[scope] << " " << figures.sku);
      const int sku = std::stoi(figures.sku.substr(4));
      CHECK(figures.initial == kUnitsPerSku);
      CHECK(figures.available >= 0);
      CHECK(figures.initial == figures.available + figures.held + figures.confirmed);
      CHECK(figures.held + figures.confirmed == reserved[scope][sku].load());
      CHECK(figures.confirmed == confirmed[scope][sku].load());
    }
  }
}

TEST_CASE(
    "one StreamConsumer reads streams on three masters while they are written - every "
    "entry handled, nothing left pending",
    "[cluster][stream][stress]") {
  RedisCluster cluster;
  auto client = cluster.make_client(8);
  std::vector<std::string> streams;
  for (std::size_t node = 0; node < cluster.size(); ++node) {
    streams.push_back("fs:events:{" + cluster.tag_on_node(node, "stream") + "}");
  }
  std::set<std::size_t> masters;
  for (const auto& stream : streams) {
    masters.insert(cluster.master_of_slot(flashsale::hash_slot(stream)));
  }
  REQUIRE(masters.size() == 3);

  flashsale::StreamConsumerOptions options;
  options.streams = streams;
  options.group = "workers";
  options.consumer = "worker-1";
  options.block_timeout = 50ms;
  options.batch_size = 50;
  flashsale::StreamConsumer consumer(*client, options);

  constexpr int kEntriesPerStream = 2'000;
  std::mutex handled_mutex;
  std::map<std::string, std::set<std::string>> handled;  // stream -> payloads
  std::atomic<int> handled_count{0};
  int failures_injected = 0;
  std::thread runner([&] {
    consumer.run([&](const flashsale::StreamMessage& message) {
      const std::lock_guard<std::mutex> lock(handled_mutex);
      // Every 100th entry fails once, so retries run on every master too.
      const std::string& payload = message.fields.at(0).second;
      if (message.delivery_count == 1 && std::stoi(payload) % 100 == 0) {
        ++failures_injected;
        return flashsale::HandlerOutcome::Retry;
      }
      if (handled[message.stream].insert(payload).second) {
        ++handled_count;
      }
      return flashsale::HandlerOutcome::Ack;
    });
  });

  std::vector<std::thread> producers;
  for (const auto& stream : streams) {
    producers.emplace_back([&client, stream] {
      for (int entry = 0; entry < kEntriesPerStream; ++entry) {
        client->execute({{"XADD", stream, "*", "payload", std::to_string(entry)}, stream, {}});
      }
    });
  }
  for (auto& producer : producers) {
    producer.join();
  }
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  while (handled_count.load() < kEntriesPerStream * 3 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
  }
  consumer.stop();
  runner.join();

  CHECK(failures_injected >= 3 * kEntriesPerStream / 100);
  for (const auto& stream : streams) {
    INFO("stream " << stream);
    CHECK(handled[stream].size() == static_cast<std::size_t>(kEntriesPerStream));
    const auto pending = client->execute({{"XPENDING", stream, "workers"}, stream, {}});
    CHECK(pending.as_array().at(0).as_integer() == 0);
  }
  CHECK(consumer.stats().pending == 0);
}
