// What a failure can lose: acknowledged coupon issues lost per run, by
// persistence setting and failure, on private servers started by this
// program. Each run is the coupon race of tests/support/coupon_failure_race
// (16 threads, 4,000 users, 2,000 units; callers retry ConnectionError and
// DurabilityError with the same ids, as a host must) with the failure
// injected once a quarter of the users have started.
//
//   failure_loss_bench [--smoke] [--runs N] [--only SUBSTRING]
//
// "lost" counts users told Issued/AlreadyIssued with a sequence they do not
// hold at the end; "resold" counts answers beyond the stock (the lost units
// handed out again). Prints one Markdown table row per scenario (min / mean /
// max over the runs). --smoke runs the standalone scenarios once, small.
// Nothing is asserted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "coupon_failure_race.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/sentinel_client.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_cluster.hpp"
#include "redis_sentinel.hpp"
#include "redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::testing::CouponFailureRaceOptions;
using flashsale::testing::CouponFailureRaceOutcome;

struct Scenario {
  std::string setting;
  std::string failure;
  bool standalone = true;
  // Runs one race and returns its outcome.
  std::function<CouponFailureRaceOutcome(const CouponFailureRaceOptions&)> run;
};

flashsale::ConnectionOptions quiet(flashsale::ConnectionOptions options) {
  options.persistence_check = flashsale::PersistenceCheck::Skip;  // RDB-only is the point
  return options;
}

// A standalone server with `config`; `crash` kills it (SIGKILL) or stops it
// gracefully (SIGTERM) before it starts again on the same port and files.
Scenario standalone(std::string setting, std::vector<std::string> config, bool crash) {
  Scenario scenario;
  scenario.setting = std::move(setting);
  scenario.failure = crash ? "kill -9, restart" : "restart (SIGTERM)";
  scenario.run = [config = std::move(config), crash](const CouponFailureRaceOptions& base) {
    flashsale::testing::RedisServerOptions server_options;
    server_options.config_lines = config;
    flashsale::testing::RedisServer server(server_options);
    flashsale::PoolOptions pool;
    pool.size = static_cast<std::size_t>(base.threads) + 1;
    pool.wait_timeout = 30s;
    auto connection = quiet(server.connection_options());
    flashsale::StandaloneClient client(connection, pool);
    CouponFailureRaceOptions race = base;
    // The last snapshot holds the coupon, none of its issues.
    race.registered = [&] { server.admin().execute({{"SAVE"}, {}, {}}); };
    return flashsale::testing::run_coupon_failure_race(client, race, [&](const auto&) {
      if (crash) {
        server.kill();
      }
      server.restart();
    });
  };
  return scenario;
}

Scenario sentinel(bool durable) {
  Scenario scenario;
  scenario.setting = std::string("Sentinel, AOF everysec, 1 replica") + (durable ? ", WAIT 1" : "");
  scenario.failure = "master kill -9, failover, old master back";
  scenario.standalone = false;
  scenario.run = [durable](const CouponFailureRaceOptions& race) {
    flashsale::testing::RedisSentinelOptions deployment;
    deployment.config_lines = {"appendonly yes", "appendfsync everysec"};
    flashsale::testing::RedisSentinelGroup group(deployment);
    auto options = group.client_options(static_cast<std::size_t>(race.threads) + 1);
    options.connection = quiet(options.connection);
    if (durable) {
      options.connection.durability.replicas = 1;
    }
    flashsale::SentinelClient client(options);
    auto outcome = flashsale::testing::run_coupon_failure_race(client, race, [&](const auto&) {
      const std::size_t old_master = group.master_index();
      group.node(old_master).kill();
      group.wait_for_failover(old_master);
      group.node(old_master).restart();
      group.wait_until_stable();  // demoted and replicating again
    });
    std::fprintf(stderr, "  sentinel failovers in this run: %lld\n", group.failovers());
    if (!outcome.whole && std::getenv("FLASHSALE_BENCH_DUMP_LOGS") != nullptr) {
      // A run whose final state is not whole: show what the servers logged.
      for (std::size_t index = 0; index < group.node_count(); ++index) {
        std::fprintf(stderr, "--- node %zu (port %d)\n", index, group.node(index).port());
        std::system(("tail -n 150 " + group.node(index).directory() + "/redis.log >&2").c_str());
      }
      std::fprintf(stderr, "--- sentinel 0\n");
      std::system(("tail -n 40 " + group.sentinel(0).directory() + "/redis.log >&2").c_str());
    }
    return outcome;
  };
  return scenario;
}

Scenario cluster(bool durable) {
  Scenario scenario;
  scenario.setting =
      std::string("Cluster 3+3, AOF everysec, node timeout 2 s") + (durable ? ", WAIT 1" : "");
  scenario.failure = "master kill -9, failover, old master back";
  scenario.standalone = false;
  scenario.run = [durable](const CouponFailureRaceOptions& race) {
    flashsale::testing::RedisClusterOptions cluster_options;
    cluster_options.replicas_per_master = 1;
    cluster_options.config_lines = {"appendonly yes", "appendfsync everysec"};
    flashsale::testing::RedisCluster cluster(cluster_options);
    auto options = cluster.client_options(static_cast<std::size_t>(race.threads) + 1);
    options.connection = quiet(options.connection);
    options.retry_budget = 30s;
    if (durable) {
      options.connection.durability.replicas = 1;
    }
    flashsale::ClusterClient client(options);
    const std::uint16_t slot = flashsale::hash_slot(race.coupon);
    return flashsale::testing::run_coupon_failure_race(client, race, [&](const auto&) {
      const std::size_t victim = cluster.master_of_slot(slot);
      cluster.node(victim).kill();
      cluster.wait_for_failover(victim, slot);
      cluster.restart_node(victim);
    });
  };
  return scenario;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const bool smoke = args.smoke();
  const int runs = static_cast<int>(args.number("runs", smoke ? 1 : 3));
  const std::string only = args.text("only", "");
  CouponFailureRaceOptions race;
  if (smoke) {
    race.threads = 4;
    race.users = 400;
    race.units = 200;
  }

  const std::vector<Scenario> scenarios{
      standalone("RDB only (save 3600 1)", {"save 3600 1"}, false),
      standalone("RDB only (save 3600 1)", {"save 3600 1"}, true),
      standalone("AOF, appendfsync no", {"appendonly yes", "appendfsync no"}, true),
      standalone("AOF, appendfsync everysec", {"appendonly yes", "appendfsync everysec"}, true),
      standalone("AOF, appendfsync always", {"appendonly yes", "appendfsync always"}, true),
      sentinel(false),
      sentinel(true),
      cluster(false),
      cluster(true),
  };
  std::printf("%d run(s) per scenario; per run: %d threads, %d users, %lld units\n\n", runs,
              race.threads, race.users, static_cast<long long>(race.units));
  std::printf(
      "| persistence / deployment | failure | acknowledged issues lost per run "
      "(min / mean / max) | answers beyond stock (max) |\n|---|---|---|---|\n");
  int failed = 0;
  for (const auto& scenario : scenarios) {
    if ((smoke && !scenario.standalone) ||
        (!only.empty() &&
         (scenario.setting + " " + scenario.failure).find(only) == std::string::npos)) {
      continue;
    }
    std::vector<int> lost;
    long long beyond = 0;
    for (int run = 0; run < runs; ++run) {
      CouponFailureRaceOptions options = race;
      options.coupon = "loss-" + std::to_string(run);
      try {
        const auto outcome = scenario.run(options);
        if (!outcome.errors.empty()) {
          std::fprintf(stderr, "%s / %s: %zu errors reached callers, e.g. %s\n",
                       scenario.setting.c_str(), scenario.failure.c_str(), outcome.errors.size(),
                       outcome.errors.front().c_str());
        }
        std::fprintf(stderr,
                     "%s / %s, run %d: told %d, lost %d, held %lld, stock %lld, whole %s, "
                     "retried %d, durability errors %d\n",
                     scenario.setting.c_str(), scenario.failure.c_str(), run, outcome.told,
                     outcome.lost, static_cast<long long>(outcome.held_units),
                     static_cast<long long>(outcome.stock_left), outcome.whole ? "yes" : "no",
                     outcome.retried, outcome.durability_errors);
        lost.push_back(outcome.lost);
        beyond = std::max<long long>(beyond, outcome.told - options.units);
      } catch (const std::exception& error) {
        ++failed;
        std::fprintf(stderr, "%s / %s: run failed: %s\n", scenario.setting.c_str(),
                     scenario.failure.c_str(), error.what());
      }
    }
    if (lost.empty()) {
      std::printf("| %s | %s | (no run completed) | |\n", scenario.setting.c_str(),
                  scenario.failure.c_str());
      continue;
    }
    double sum = 0;
    for (const int value : lost) {
      sum += value;
    }
    std::printf("| %s | %s | %d / %.1f / %d | %lld |\n", scenario.setting.c_str(),
                scenario.failure.c_str(), *std::min_element(lost.begin(), lost.end()),
                sum / static_cast<double>(lost.size()), *std::max_element(lost.begin(), lost.end()),
                beyond);
    std::fflush(stdout);
  }
  return failed == 0 ? 0 : 1;
}
