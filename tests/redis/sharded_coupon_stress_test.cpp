// ShardedCouponIssuer on a local Redis Cluster of 3 masters, one shard per
// master: a crowd race of 500,000 calls from 100,000 users for 10,000 units
// on 64 threads, the same with worker processes SIGKILLed mid-run (some
// between the donor and the home script of a transfer), and the same while a
// shard's slot migrates. After each: exactly 10,000 units held, no user
// twice, every transfer accounted for.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "coupon_test_support.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/sharded_coupon_issuer.hpp"
#include "redis_cluster.hpp"
#include "test_program.hpp"

using namespace std::chrono_literals;
using flashsale::ClusterClient;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssueStatus;
using flashsale::ShardedCouponIssuer;
using flashsale::ShardedCouponIssuerOptions;
using flashsale::ShardedIssueResult;
using flashsale::testing::RedisCluster;
using flashsale::testing::coupon::open_coupon;

namespace {

constexpr int kThreads = 64;
constexpr int kUsers = 100'000;
constexpr std::int64_t kUnits = 10'000;
constexpr std::size_t kShards = 3;

ShardedCouponIssuerOptions sharded_options() {
  ShardedCouponIssuerOptions options;
  options.shards = kShards;
  options.transfer_chunk = 100;
  return options;
}

std::string user_name(int index) {
  return "user-" + std::to_string(index);
}

// What the server holds, checked against the conservation law and the
// per-user limit: returns the users holding a unit, with (shard, sequence).
std::map<std::string, std::pair<std::size_t, std::int64_t>> audit(ClusterClient& client,
                                                                  ShardedCouponIssuer& issuer,
                                                                  const std::string& coupon) {
  const auto stats = issuer.stats(coupon);
  REQUIRE(stats.has_value());
  CHECK(stats->total == kUnits);
  CHECK(stats->issued == kUnits);
  CHECK(stats->remaining == 0);
  CHECK(stats->in_flight == 0);
  std::int64_t moved_out = 0;
  std::int64_t moved_in = 0;
  for (const auto& shard : stats->shards) {
    CHECK(shard.coupon.total == shard.coupon.issued + shard.coupon.remaining);
    CHECK(shard.transfers == 0);
    moved_out += shard.moved_out;
    moved_in += shard.moved_in;
  }
  CHECK(moved_out == moved_in);  // every unit taken was credited once

  // The holders, read from each shard: every user on its home shard, once.
  FirstComeCouponIssuer plain(client);
  const auto ids = issuer.sub_coupon_ids(coupon);
  std::map<std::string, std::pair<std::size_t, std::int64_t>> holders;
  for (std::size_t shard = 0; shard < ids.size(); ++shard) {
    std::set<std::int64_t> sequences;
    std::int64_t after = 0;
    for (;;) {
      const auto page = plain.issued_users(ids[shard], after, 1000);
      for (const auto& holder : page.users) {
        CHECK(issuer.home_shard(holder.user) == shard);
        CHECK(sequences.insert(holder.sequence).second);
        CHECK(holders.emplace(holder.user, std::make_pair(shard, holder.sequence)).second);
      }
      if (!page.next_after_sequence) {
        break;
      }
      after = *page.next_after_sequence;
    }
  }
  CHECK(static_cast<std::int64_t>(holders.size()) == kUnits);
  return holders;
}

struct Answers {
  std::vector<ShardedIssueResult> results;  // by call
  std::vector<std::string> errors;
};

// Calls issue() `calls` times on kThreads threads, call i for user i % users.
// Transport errors are retried with the same user (as a host must).
Answers run_crowd(ShardedCouponIssuer& issuer, const std::string& coupon, int calls, int users,
                  std::atomic<int>& next) {
  Answers answers;
  answers.results.resize(static_cast<std::size_t>(calls));
  std::mutex errors_mutex;
  std::vector<std::thread> callers;
  for (int thread = 0; thread < kThreads; ++thread) {
    callers.emplace_back([&] {
      for (int call = next++; call < calls; call = next++) {
        const std::string user = user_name(call % users);
        for (int attempt = 1;; ++attempt) {
          try {
            answers.results[static_cast<std::size_t>(call)] = issuer.issue(coupon, user);
            break;
          } catch (const flashsale::Error& error) {
            if (attempt == 100) {
              const std::lock_guard<std::mutex> lock(errors_mutex);
              answers.errors.emplace_back(error.what());
              break;
            }
            std::this_thread::sleep_for(20ms);
          }
        }
      }
    });
  }
  for (auto& caller : callers) {
    caller.join();
  }
  return answers;
}

void check_answers(const Answers& answers, int users,
                   const std::map<std::string, std::pair<std::size_t, std::int64_t>>& holders) {
  CHECK(answers.errors.empty());
  std::set<std::string> told_issued;
  for (std::size_t call = 0; call < answers.results.size(); ++call) {
    const auto& result = answers.results[call];
    const std::string user = user_name(static_cast<int>(call) % users);
    if (result.status == IssueStatus::Issued) {
      CHECK(told_issued.insert(user).second);
    }
    if (result.status == IssueStatus::Issued || result.status == IssueStatus::AlreadyIssued) {
      const auto found = holders.find(user);
      REQUIRE(found != holders.end());
      CHECK(found->second.first == result.shard);
      CHECK(found->second.second == result.sequence);
    } else {
      CHECK(result.status == IssueStatus::SoldOut);
    }
  }
  CHECK(told_issued.size() <= holders.size());
}

}  // namespace

TEST_CASE("500k calls of 100k users on 3 shards issue exactly 10k units",
          "[sharded][cluster][stress]") {
  RedisCluster cluster;
  ClusterClient client(cluster.client_options(kThreads));
  ShardedCouponIssuer issuer(client, sharded_options());
  const std::string coupon = "mega-deal";
  issuer.register_template(open_coupon(client, coupon, kUnits));
  // One shard per master.
  std::set<std::size_t> masters;
  for (const auto& id : issuer.sub_coupon_ids(coupon)) {
    masters.insert(cluster.master_of_slot(flashsale::hash_slot(id)));
  }
  CHECK(masters.size() == kShards);

  // Skew the stock (shard 0 holds 7,334 units, the others 1,333 each) while
  // demand is even, so shards 1 and 2 run dry early and their users keep
  // moving chunks out of shard 0 under load.
  for (const std::size_t donor : {std::size_t{1}, std::size_t{2}}) {
    const auto moved = issuer.complete_transfer(coupon, issuer.take_stock(coupon, donor, 0, 2000));
    REQUIRE(moved.status == flashsale::TransferStatus::Moved);
  }

  constexpr int kCalls = 500'000;
  std::atomic<int> next{0};
  const Answers answers = run_crowd(issuer, coupon, kCalls, kUsers, next);
  const auto holders = audit(client, issuer, coupon);
  check_answers(answers, kUsers, holders);

  // Fairness across shards, as a measured figure: calls are numbered in the
  // order they started; how many winners started after the first SoldOut.
  int first_sold_out = kCalls;
  int last_issued = 0;
  for (int call = 0; call < kCalls; ++call) {
    const auto status = answers.results[static_cast<std::size_t>(call)].status;
    if (status == IssueStatus::SoldOut) {
      first_sold_out = std::min(first_sold_out, call);
    } else if (status == IssueStatus::Issued) {
      last_issued = call;
    }
  }
  int late_winners = 0;
  std::size_t transfers = 0;
  for (int call = 0; call < kCalls; ++call) {
    const auto& result = answers.results[static_cast<std::size_t>(call)];
    late_winners += result.status == IssueStatus::Issued && call > first_sold_out ? 1 : 0;
    transfers += result.transfers;
  }
  std::int64_t moved = 0;
  const auto final_stats = issuer.stats(coupon);
  for (const auto& shard : final_stats->shards) {
    moved += shard.moved_in;
  }
  std::printf("units moved between shards: %lld (4,000 before the crowd)\n",
              static_cast<long long>(moved));
  CHECK(transfers >= 1);
  CHECK(moved > 4000);
  std::printf(
      "fairness: first SoldOut at call %d, last Issued at call %d, %d of %lld winners started "
      "after the first SoldOut; %zu transfers\n",
      first_sold_out, last_issued, late_winners, static_cast<long long>(kUnits), transfers);
  // Arrival order is exact within a shard and approximate across shards
  // (a caller of an emptied shard waits for a refill while later callers of
  // another shard are served; 64 threads on this machine also start calls
  // long before they reach Redis): a figure to read, bounded loosely here.
  CHECK(late_winners < static_cast<int>(kUnits) / 10);
}

TEST_CASE("workers SIGKILLed mid-transfer lose no unit after recover_transfers",
          "[sharded][cluster][stress][sigkill]") {
  RedisCluster cluster;
  ClusterClient client(cluster.client_options(kThreads));
  ShardedCouponIssuer issuer(client, sharded_options());
  const std::string coupon = "killed-deal";
  issuer.register_template(open_coupon(client, coupon, kUnits));
  const std::string seed = cluster.seeds().at(0);
  const std::string marker =
      "/tmp/flashsale-sharded-take-" + std::to_string(::getpid()) + ".marker";

  int killed_mid_transfer = 0;
  std::int64_t last_taken = 0;
  for (int round = 0; round < 4; ++round) {
    // A worker process issuing to a slice of the users, killed mid-run.
    const int first = round * 10'000;
    const pid_t worker = flashsale::testing::start_test_program(
        "sharded_coupon_worker", {seed, coupon, "issue", std::to_string(first), "10000", "16"});
    const std::int64_t before = issuer.stats(coupon)->issued;
    for (int wait = 0; wait < 3000 && issuer.stats(coupon)->issued < before + 500; ++wait) {
      std::this_thread::sleep_for(10ms);
    }
    ::kill(worker, SIGKILL);
    flashsale::testing::wait_for_exit(worker);

    // A worker killed right after the donor script of a transfer.
    ::unlink(marker.c_str());
    const std::size_t from = static_cast<std::size_t>(round) % kShards;
    const pid_t taker = flashsale::testing::start_test_program(
        "sharded_coupon_worker",
        {seed, coupon, "take", std::to_string(from), std::to_string((from + 1) % kShards), marker});
    std::int64_t taken = -1;
    for (int wait = 0; wait < 3000 && taken < 0; ++wait) {
      std::ifstream file(marker);
      if (!(file >> taken)) {
        taken = -1;
        std::this_thread::sleep_for(10ms);
      }
    }
    ::kill(taker, SIGKILL);
    flashsale::testing::wait_for_exit(taker);
    REQUIRE(taken >= 0);
    killed_mid_transfer += taken > 0 ? 1 : 0;
    last_taken = taken;
    // Units in flight are counted, never lost.
    const auto stats = issuer.stats(coupon);
    CHECK(stats->total == kUnits);
    CHECK(stats->in_flight >= taken);
  }
  ::unlink(marker.c_str());
  CHECK(killed_mid_transfer >= 1);

  // The last taker's units are still in flight (no worker ran since); the
  // earlier ones may have been finished by a later worker's sweep.
  const auto recovery = issuer.recover_transfers(coupon);
  CHECK(recovery.units >= last_taken);
  CHECK(recovery.unfinished == 0);
  CHECK(issuer.stats(coupon)->in_flight == 0);
  CHECK(issuer.recover_transfers(coupon).finished == 0);

  // The rest of the crowd sells the coupon out, exactly.
  std::atomic<int> next{0};
  const Answers answers = run_crowd(issuer, coupon, kUsers, kUsers, next);
  const auto holders = audit(client, issuer, coupon);
  check_answers(answers, kUsers, holders);
}

TEST_CASE("a shard's slot migrating under the crowd still issues exactly 10k units",
          "[sharded][cluster][stress][migration]") {
  RedisCluster cluster;
  auto options = cluster.client_options(kThreads);
  options.retry_budget = 60s;  // TRYAGAIN while a script's keys are split between two masters
  ClusterClient client(options);
  ShardedCouponIssuer issuer(client, sharded_options());
  const std::string coupon = "moving-deal";
  issuer.register_template(open_coupon(client, coupon, kUnits));
  const std::uint16_t slot = flashsale::hash_slot(issuer.sub_coupon_ids(coupon).at(0));

  constexpr int kCalls = 100'000;
  std::atomic<int> next{0};
  std::atomic<bool> done{false};
  int migrations = 0;
  int migrations_under_load = 0;
  std::thread migrator([&] {
    while (next < 500) {
      std::this_thread::sleep_for(1ms);
    }
    while (!done && migrations < 4) {
      const std::size_t to = (cluster.master_of_slot(slot) + 1) % 3;
      const bool stock_left = issuer.stats(coupon)->remaining > 0;
      cluster.migrate_slot(slot, to, 1, [] { std::this_thread::sleep_for(10ms); });
      ++migrations;
      migrations_under_load += !done && stock_left ? 1 : 0;
    }
  });
  const Answers answers = run_crowd(issuer, coupon, kCalls, kUsers, next);
  done = true;
  migrator.join();
  INFO("slot migrations " << migrations);
  CHECK(migrations_under_load >= 1);
  const auto holders = audit(client, issuer, coupon);
  check_answers(answers, kUsers, holders);
}
