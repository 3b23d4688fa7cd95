// Opt-in durability on a real cluster with one replica per master (AOF
// everysec, cluster-node-timeout 2 s): the master of a coupon is SIGKILLed
// mid-race, its replica is promoted, the old master restarts and rejoins as
// a replica. Callers retry ConnectionError and DurabilityError with the same
// ids. With DurabilityOptions::replicas = 1, no issue a caller was told about
// is lost; without it, the losses are counted and reported, not asserted.
#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "catch.hpp"
#include "coupon_failure_race.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "redis_cluster.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::ClusterClient;
using flashsale::testing::RedisCluster;
using flashsale::testing::RedisClusterOptions;

namespace {

constexpr int kRuns = 3;
constexpr int kThreads = 16;
constexpr int kUsers = 4'000;
constexpr std::int64_t kUnits = 2'000;

RedisClusterOptions replicated_cluster() {
  RedisClusterOptions options;
  options.replicas_per_master = 1;
  options.config_lines = {"appendonly yes", "appendfsync everysec"};
  options.node_timeout = 2s;
  return options;
}

using RunOutcome = flashsale::testing::CouponFailureRaceOutcome;

// One coupon on the master to be killed; the race; the kill, failover and
// restart of the old master (it rejoins as a replica) in the middle of it.
RunOutcome race_through_master_kill(RedisCluster& cluster, ClusterClient& client, int run) {
  flashsale::testing::CouponFailureRaceOptions race;
  race.coupon = "durable-" + std::to_string(run);
  race.threads = kThreads;
  race.users = kUsers;
  race.units = kUnits;
  const std::uint16_t slot = flashsale::hash_slot(race.coupon);
  return flashsale::testing::run_coupon_failure_race(client, race, [&](const std::atomic<int>&) {
    const std::size_t victim = cluster.master_of_slot(slot);
    cluster.node(victim).kill();
    cluster.wait_for_failover(victim, slot);
    cluster.restart_node(victim);
  });
}

std::vector<RunOutcome> runs(bool durability) {
  RedisCluster cluster(replicated_cluster());
  auto options = cluster.client_options(kThreads);
  options.retry_budget = 30s;
  if (durability) {
    options.connection.durability.replicas = 1;
    options.connection.durability.timeout = 500ms;
  }
  ClusterClient client(options);
  std::vector<RunOutcome> outcomes;
  for (int run = 0; run < kRuns; ++run) {
    outcomes.push_back(race_through_master_kill(cluster, client, run));
  }
  return outcomes;
}

}  // namespace

TEST_CASE(
    "with durability (WAIT 1) on a cluster with replicas, 3 master kills mid coupon race lose no "
    "acknowledged issue",
    "[cluster][durability][failover][stress]") {
  const auto outcomes = runs(true);
  int durability_errors = 0;
  for (std::size_t run = 0; run < outcomes.size(); ++run) {
    const auto& outcome = outcomes[run];
    INFO("run " << run << ": told " << outcome.told << ", lost " << outcome.lost << ", retried "
                << outcome.retried << ", durability errors " << outcome.durability_errors);
    INFO("first error: " << (outcome.errors.empty() ? "" : outcome.errors.front()));
    CHECK(outcome.errors.empty());
    CHECK(outcome.whole);
    CHECK(outcome.lost == 0);
    CHECK(outcome.told == kUnits);
    durability_errors += outcome.durability_errors;
  }
  // The promoted replica had no replica of its own until the old master came
  // back: callers were told so instead of being told "issued".
  CHECK(durability_errors > 0);
}

TEST_CASE(
    "without durability the same 3 master kills may lose acknowledged issues: the count is "
    "reported, the state stays whole",
    "[cluster][durability][failover][stress]") {
  const auto outcomes = runs(false);
  int lost = 0;
  int told = 0;
  for (const auto& outcome : outcomes) {
    INFO("first error: " << (outcome.errors.empty() ? "" : outcome.errors.front()));
    CHECK(outcome.errors.empty());
    CHECK(outcome.whole);
    CHECK(outcome.durability_errors == 0);
    lost += outcome.lost;
    told += outcome.told;
  }
  WARN("acknowledged issues lost without durability over " << kRuns << " master kills: " << lost
                                                           << " (told " << told << ")");
}

TEST_CASE("bad durability options of a cluster client raise InvalidArgument before any I/O",
          "[cluster][durability]") {
  flashsale::ClusterClientOptions options;
  options.seeds = {"127.0.0.1:1"};  // nothing listens there
  options.connection.durability.replicas = -1;
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
  options.connection.durability.replicas = 1;
  options.connection.durability.timeout = -1ms;
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
  options.connection.durability.timeout = options.connection.command_timeout;
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
  options.connection.durability.timeout = 100ms;
  CHECK_NOTHROW(ClusterClient(options));
}
