// SentinelClient through real failovers (3 sentinels, 1 master, 1 replica,
// AOF everysec, down-after 1 s): the master is SIGKILLed under a coupon race
// or a stock race, the replica is promoted, the old master is restarted from
// its AOF and demoted by Sentinel. Callers retry what surfaced as
// ConnectionError (the call may have run) or DurabilityError with the same
// ids, as a host must.
#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "catch.hpp"
#include "coupon_failure_race.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/sentinel_client.hpp"
#include "redis_sentinel.hpp"
#include "redis_test_helpers.hpp"
#include "stock_failure_race.hpp"

using namespace std::chrono_literals;
using flashsale::SentinelClient;
using flashsale::testing::CouponFailureRaceOptions;
using flashsale::testing::CouponFailureRaceOutcome;
using flashsale::testing::RedisSentinelGroup;
using flashsale::testing::RedisSentinelOptions;

namespace {

constexpr int kThreads = 16;
constexpr int kUsers = 8'000;
constexpr std::int64_t kUnits = 4'000;
RedisSentinelOptions aof_deployment() {
  RedisSentinelOptions options;
  options.config_lines = {"appendonly yes", "appendfsync everysec"};
  return options;
}

// Scripts a node ran for clients since it started (replicated writes arrive
// as their effects, not as EVAL/EVALSHA).
double scripts_run(flashsale::testing::RedisServer& node) {
  const std::string stats = node.admin().execute({{"INFO", "commandstats"}, {}, {}}).as_string();
  return flashsale::testing::info_number(stats, "cmdstat_evalsha:calls=").value_or(0) +
         flashsale::testing::info_number(stats, "cmdstat_eval:calls=").value_or(0);
}

// The coupon race through: SIGKILL of the master, failover (calls go on
// through the promoted replica alone when durability is off), restart of the
// old master (demoted by Sentinel), with or without durability.
struct SentinelRun {
  CouponFailureRaceOutcome race;
  double scripts_on_restarted_old_master = 0;
};

SentinelRun coupon_race_through_failover(bool durability) {
  RedisSentinelGroup group(aof_deployment());
  auto options = group.client_options(kThreads);
  if (durability) {
    options.connection.durability.replicas = 1;
    options.connection.durability.timeout = 500ms;
  }
  SentinelClient client(options);
  CouponFailureRaceOptions race;
  race.threads = kThreads;
  race.users = kUsers;
  race.units = kUnits;
  std::size_t old_master = 0;
  SentinelRun run;
  run.race = run_coupon_failure_race(client, race, [&](const std::atomic<int>& answered) {
    old_master = group.master_index();
    group.node(old_master).kill();
    group.wait_for_failover(old_master);
    const int at_failover = answered.load();
    if (!durability) {
      REQUIRE(flashsale::testing::eventually([&] { return answered.load() > at_failover + 100; }));
    }
    // The old master comes back from its AOF, says ROLE master until
    // Sentinel demotes it, and then replicates from the new master.
    group.node(old_master).restart();
    group.wait_until_stable();  // demoted and replicating again
  });
  run.scripts_on_restarted_old_master = scripts_run(group.node(old_master));
  return run;
}

void check_common(const SentinelRun& run) {
  const auto& outcome = run.race;
  INFO("told " << outcome.told << ", lost " << outcome.lost << ", retried " << outcome.retried
               << ", durability errors " << outcome.durability_errors
               << ", answered after the restart " << outcome.answered_after_failure);
  INFO("first error: " << (outcome.errors.empty() ? "" : outcome.errors.front()));
  CHECK(outcome.errors.empty());
  CHECK(outcome.retried > 0);
  // No client ran a script on the old master after its restart: it said
  // master, but the sentinels named the new one, and nothing else is asked.
  CHECK(run.scripts_on_restarted_old_master == 0);
  CHECK(outcome.held_units <= kUnits);
}

}  // namespace

TEST_CASE(
    "master SIGKILLed under a coupon race: calls succeed again through the promoted replica and "
    "the restarted old master runs no script",
    "[sentinel][failover][coupon][stress]") {
  const auto run = coupon_race_through_failover(false);
  check_common(run);
  // Without durability an acknowledged issue may die with the master, and in
  // some failure_loss_bench runs the new master held none of the coupon at
  // the end (see the README's failure table): figures, not assertions.
  WARN("state whole after the failover (held + stock = total): "
       << (run.race.whole ? "yes" : "no") << ", held " << run.race.held_units << ", stock "
       << run.race.stock_left);
  WARN("acknowledged issues lost without durability: " << run.race.lost << " of " << run.race.told);
}

TEST_CASE(
    "the same failover with durability (WAIT 1): no acknowledged issue is lost, every caller told "
    "a sequence holds exactly it, the coupon's state stays whole",
    "[sentinel][failover][coupon][durability][stress]") {
  const auto run = coupon_race_through_failover(true);
  check_common(run);
  // The state is whole: every unit either held once or in stock.
  CHECK(run.race.whole);
  CHECK(run.race.lost == 0);
  CHECK(run.race.told == kUnits);
  // The promoted replica had no replica of its own until the restart.
  CHECK(run.race.durability_errors > 0);
}

TEST_CASE(
    "stock race through a Sentinel failover: initial = available + held + confirmed per SKU, "
    "and no confirmed hold acknowledged with durability is lost",
    "[sentinel][failover][stock][stress]") {
  RedisSentinelGroup group(aof_deployment());
  auto options = group.client_options(kThreads);
  options.connection.durability.replicas = 1;
  options.connection.durability.timeout = 500ms;
  SentinelClient client(options);
  flashsale::testing::StockFailureRaceOptions race;
  race.threads = kThreads;
  std::size_t old_master = 0;
  const auto outcome =
      flashsale::testing::run_stock_failure_race(client, race, [&](const std::atomic<int>&) {
        old_master = group.master_index();
        group.node(old_master).kill();
        group.wait_for_failover(old_master);
        group.node(old_master).restart();
        group.wait_until_stable();  // demoted and replicating again
      });
  INFO("retried " << outcome.retried << ", durability errors " << outcome.durability_errors
                  << ", first error " << (outcome.errors.empty() ? "" : outcome.errors.front()));
  CHECK(outcome.errors.empty());
  CHECK(outcome.retried > 0);
  CHECK(scripts_run(group.node(old_master)) == 0);
  // initial = available + held + confirmed per SKU, available >= 0.
  CHECK(outcome.whole);
  // Every hold a caller was told is confirmed is still confirmed (a second
  // confirm reports AlreadyConfirmed), and no SKU was sold beyond its stock.
  CHECK(outcome.confirmed_told > 0);
  CHECK(outcome.lost == 0);
  CHECK(outcome.oversold == 0);
}
