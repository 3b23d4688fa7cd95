// Metrics against a real redis-server: the transport's figures (calls,
// errors by kind, pool, reconnects, NOSCRIPT fallbacks) and the component
// collectors, checked against what the test did.
#include "flashsale/metrics.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "coupon_race.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/component_metrics.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/sentinel_client.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/waiting_room.hpp"
#include "flashsale/waiting_room_runner.hpp"
#include "lua/test_scripts.hpp"
#include "redis_cluster.hpp"
#include "redis_sentinel.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssueStatus;
using flashsale::MetricFamily;
using flashsale::MetricLabels;
using flashsale::MetricsRegistry;
using flashsale::StandaloneClient;
using flashsale::testing::open_coupon;
using flashsale::testing::RedisServer;
using flashsale::testing::run_coupon_race;
using flashsale::testing::server_now;

namespace {

const flashsale::MetricSample* find_sample(const std::vector<MetricFamily>& families,
                                           const std::string& name, const MetricLabels& labels) {
  for (const auto& family : families) {
    if (family.name != name) {
      continue;
    }
    for (const auto& sample : family.samples) {
      if (sample.labels == labels) {
        return &sample;
      }
    }
  }
  return nullptr;
}

// The value of one series; nullopt when the scrape does not have it.
std::optional<double> value_of(MetricsRegistry& registry, const std::string& name,
                               const MetricLabels& labels = {}) {
  const auto families = registry.collect();
  const auto* sample = find_sample(families, name, labels);
  return sample != nullptr ? std::optional<double>(sample->value) : std::nullopt;
}

std::uint64_t calls_of(MetricsRegistry& registry, const std::string& kind,
                       const std::string& operation) {
  const auto families = registry.collect();
  const auto* sample = find_sample(families, "flashsale_redis_call_duration_seconds",
                                   {{"kind", kind}, {"operation", operation}});
  return sample != nullptr ? sample->histogram.count : 0;
}

double errors_of(MetricsRegistry& registry, const std::string& kind, const std::string& operation) {
  return value_of(registry, "flashsale_redis_errors_total",
                  {{"kind", kind}, {"operation", operation}})
      .value_or(0);
}

std::unique_ptr<StandaloneClient> metered_client(const RedisServer& server,
                                                 std::shared_ptr<MetricsRegistry> registry,
                                                 flashsale::PoolOptions pool = {}) {
  auto options = server.connection_options();
  options.metrics = std::move(registry);
  return std::make_unique<StandaloneClient>(options, pool);
}

}  // namespace

TEST_CASE(
    "under 32 threads the transport counts exactly the calls made and the pool gives "
    "every connection back",
    "[metrics]") {
  RedisServer server;
  const bool shared = GENERATE(false, true);
  CAPTURE(shared);
  auto registry = std::make_shared<MetricsRegistry>();
  flashsale::PoolOptions pool;
  pool.size = 8;
  pool.wait_timeout = 30s;
  pool.shared_connections = shared ? 2 : 0;
  auto client = metered_client(server, registry, pool);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "race", 500));
  registry->add_collector("coupons", flashsale::coupon_metrics(issuer, {"race"}));

  constexpr int kThreads = 32;
  constexpr int kUsersPerThread = 40;
  // Scrapes while the race runs must not disturb it.
  // (Catch2 assertions are not thread-safe: the scraper only counts.)
  std::atomic<bool> racing{true};
  std::atomic<int> scrapes{0};
  std::atomic<int> scrapes_without_issues{0};
  std::thread scraper([&] {
    while (racing) {
      const std::string text = flashsale::render_prometheus(*registry);
      ++scrapes;
      if (text.find("flashsale_coupon_issued{coupon=\"race\"}") == std::string::npos) {
        ++scrapes_without_issues;
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  const int issued = run_coupon_race(issuer, "race", kThreads, kUsersPerThread);
  racing = false;
  scraper.join();
  CHECK(scrapes > 0);
  CHECK(scrapes_without_issues == 0);

  CHECK(issued == 500);
  CHECK(calls_of(*registry, "script", "issue_coupon") == kThreads * kUsersPerThread);
  CHECK(errors_of(*registry, "reply", "issue_coupon") == 0);
  CHECK(value_of(*registry, "flashsale_coupon_issued", {{"coupon", "race"}}) == 500);
  CHECK(value_of(*registry, "flashsale_coupon_remaining", {{"coupon", "race"}}) == 0);
  CHECK(value_of(*registry, "flashsale_coupon_total", {{"coupon", "race"}}) == 500);
  const MetricLabels node{{"node", server.address()}};
  CHECK(value_of(*registry, "flashsale_redis_pool_size", node) == 8);
  CHECK(value_of(*registry, "flashsale_redis_pool_in_use_connections", node) == 0);
  const auto open = value_of(*registry, "flashsale_redis_pool_open_connections", node);
  REQUIRE(open);
  CHECK(*open <= 8);
  // Every opened connection is open now (pooled or shared): none broke.
  CHECK(value_of(*registry, "flashsale_redis_connections_opened_total", node) ==
        *open + (shared ? 2 : 0));
  if (!shared) {
    const auto families = registry->collect();
    const auto* wait = find_sample(families, "flashsale_redis_pool_wait_seconds", node);
    REQUIRE(wait != nullptr);
    // register_template, INFO (eviction check), 1280 issues, the collector's
    // stats() reads: at least one acquire per call.
    CHECK(wait->histogram.count >= kThreads * kUsersPerThread);
  }
}

TEST_CASE("timeouts, connection failures and error replies are counted by kind and operation",
          "[metrics]") {
  RedisServer server;
  auto registry = std::make_shared<MetricsRegistry>();
  auto options = server.connection_options();
  options.command_timeout = 100ms;
  options.metrics = registry;
  StandaloneClient client(options);

  CHECK_THROWS_AS(client.execute({{"NOSUCHCOMMAND"}, {}, {}}), flashsale::ReplyError);
  CHECK(errors_of(*registry, "reply", "NOSUCHCOMMAND") == 1);
  // Error replies inside a pipeline are counted per entry.
  const auto replies = client.execute_pipeline(
      {{{"SET", "k", "v"}, {}, {}}, {{"INCR", "k"}, {}, {}}, {{"INCR", "k"}, {}, {}}});
  CHECK(replies.at(1).is_error());
  CHECK(errors_of(*registry, "reply", "SET") == 2);
  CHECK(calls_of(*registry, "command_pipeline", "SET") == 1);

  server.admin().execute({{"CLIENT", "PAUSE", "400", "ALL"}, {}, {}});
  CHECK_THROWS_AS(client.execute({{"ping"}, {}, {}}), flashsale::TimeoutError);
  CHECK(errors_of(*registry, "timeout", "PING") == 1);
  std::this_thread::sleep_for(450ms);
  CHECK(client.execute({{"PING"}, {}, {}}).as_string() == "PONG");
  // Lower and upper case name the same operation.
  CHECK(calls_of(*registry, "command", "PING") == 2);
  const MetricLabels node{{"node", server.address()}};
  CHECK(value_of(*registry, "flashsale_redis_connections_dropped_total",
                 {node[0], {"reason", "broken"}}) == 1);

  server.stop();
  CHECK_THROWS_AS(client.execute({{"PING"}, {}, {}}), flashsale::ConnectionError);
  CHECK(errors_of(*registry, "connection", "PING") >= 1);
}

TEST_CASE(
    "a server restart is counted as a dropped and reopened connection, SCRIPT FLUSH as "
    "NOSCRIPT fallbacks",
    "[metrics]") {
  RedisServer server;
  auto registry = std::make_shared<MetricsRegistry>();
  auto client = metered_client(server, registry, flashsale::PoolOptions{1});
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "flush", 10));
  const MetricLabels node{{"node", server.address()}};
  CHECK(value_of(*registry, "flashsale_redis_connections_opened_total", node) == 1);
  const double fallbacks_before =
      value_of(*registry, "flashsale_redis_noscript_fallbacks_total").value_or(0);

  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  CHECK(issuer.issue("flush", "a").status == IssueStatus::Issued);
  CHECK(issuer.issue("flush", "b").status == IssueStatus::Issued);
  CHECK(value_of(*registry, "flashsale_redis_noscript_fallbacks_total") == fallbacks_before + 1);

  server.restart();
  flashsale::testing::wait_until_loaded(server.admin());
  client->execute({{"PING"}, {}, {}});
  CHECK(value_of(*registry, "flashsale_redis_connections_dropped_total",
                 {node[0], {"reason", "closed_by_server"}}) == 1);
  CHECK(value_of(*registry, "flashsale_redis_connections_opened_total", node) == 2);
}

TEST_CASE(
    "a client without a registry works and a registry shared by two clients adds their "
    "figures up",
    "[metrics]") {
  RedisServer server;
  StandaloneClient plain(server.connection_options());
  CHECK(plain.execute({{"PING"}, {}, {}}).as_string() == "PONG");

  auto registry = std::make_shared<MetricsRegistry>();
  auto first = metered_client(server, registry, flashsale::PoolOptions{3});
  auto second = metered_client(server, registry, flashsale::PoolOptions{5});
  first->execute({{"PING"}, {}, {}});
  second->execute({{"PING"}, {}, {}});
  const MetricLabels node{{"node", server.address()}};
  CHECK(calls_of(*registry, "command", "PING") == 2);
  CHECK(value_of(*registry, "flashsale_redis_pool_size", node) == 8);
  second.reset();
  CHECK(value_of(*registry, "flashsale_redis_pool_size", node) == 3);
  CHECK(value_of(*registry, "flashsale_redis_pool_open_connections", node) == 1);
}

TEST_CASE("the stock collector reports units per SKU, active holds and expired unreclaimed holds",
          "[metrics]") {
  RedisServer server;
  auto client = server.make_client();
  flashsale::StockReserver reserver(*client);
  MetricsRegistry registry;
  registry.add_collector("stock", flashsale::stock_metrics(reserver, {"deal", "never-loaded"}));

  reserver.load("deal", {{"sku-a", 10}, {"sku-b", 5}});
  CHECK(reserver.reserve("deal", "long", {{"sku-a", 1}, {"sku-b", 1}}, 1h).status ==
        flashsale::ReserveStatus::Reserved);
  CHECK(reserver.reserve("deal", "sold", {{"sku-b", 3}}, 1h).status ==
        flashsale::ReserveStatus::Reserved);
  CHECK(reserver.confirm("deal", "sold").status == flashsale::ConfirmStatus::Confirmed);
  // Last: every reserve first reclaims expired holds.
  CHECK(reserver.reserve("deal", "short", {{"sku-a", 2}}, 1ms).status ==
        flashsale::ReserveStatus::Reserved);
  std::this_thread::sleep_for(20ms);

  const auto families = registry.collect();
  const auto value = [&](const std::string& name, const MetricLabels& labels) {
    const auto* sample = find_sample(families, name, labels);
    return sample != nullptr ? std::optional<double>(sample->value) : std::nullopt;
  };
  const MetricLabels deal{{"scope", "deal"}};
  CHECK(value("flashsale_stock_sale_open", deal) == 1);
  CHECK(value("flashsale_stock_available", {{"scope", "deal"}, {"sku", "sku-a"}}) == 7);
  CHECK(value("flashsale_stock_held", {{"scope", "deal"}, {"sku", "sku-a"}}) == 3);
  CHECK(value("flashsale_stock_confirmed", {{"scope", "deal"}, {"sku", "sku-b"}}) == 3);
  CHECK(value("flashsale_stock_active_holds", deal) == 2);
  CHECK(value("flashsale_stock_expired_holds", deal) == 1);
  const auto lateness = value("flashsale_stock_reclaim_lateness_seconds", deal);
  REQUIRE(lateness);
  CHECK(*lateness >= 0.015);
  CHECK(value("flashsale_stock_sale_open", {{"scope", "never-loaded"}}) == 0);
  CHECK(value("flashsale_stock_active_holds", {{"scope", "never-loaded"}}) == std::nullopt);

  reserver.reclaim_expired("deal", 10);
  CHECK(value_of(registry, "flashsale_stock_expired_holds", deal) == 0);
  CHECK(value_of(registry, "flashsale_stock_reclaim_lateness_seconds", deal) == 0);
  CHECK(value_of(registry, "flashsale_stock_active_holds", deal) == 1);
}

TEST_CASE(
    "the stream consumer collector reports pending, lag and the oldest pending age, and "
    "leaves out what is unknown",
    "[metrics]") {
  RedisServer server;
  auto client = server.make_client();
  flashsale::StreamConsumerOptions options;
  options.streams = {"fs:events:{orders}"};
  options.group = "billing";
  options.consumer = "worker-1";
  options.block_timeout = 50ms;
  options.retry_backoff = 1h;
  flashsale::StreamConsumer consumer(*client, options);
  MetricsRegistry registry;
  registry.add_collector("stream", flashsale::stream_consumer_metrics(consumer));
  const MetricLabels labels{
      {"stream", "fs:events:{orders}"}, {"group", "billing"}, {"consumer", "worker-1"}};

  // Before the first poll there is no group: nothing pending, lag unknown.
  CHECK(value_of(registry, "flashsale_stream_pending_entries", labels) == 0);
  CHECK(value_of(registry, "flashsale_stream_lag_entries", labels) == std::nullopt);
  CHECK(value_of(registry, "flashsale_stream_oldest_pending_age_seconds", labels) == std::nullopt);

  for (int entry = 0; entry < 3; ++entry) {
    client->execute({{"XADD", "fs:events:{orders}", "*", "n", std::to_string(entry)},
                     "fs:events:{orders}",
                     {}});
  }
  int handled = 0;
  consumer.poll_once([&](const flashsale::StreamMessage&) {
    return ++handled == 1 ? flashsale::HandlerOutcome::Retry : flashsale::HandlerOutcome::Ack;
  });
  CHECK(handled == 3);
  CHECK(value_of(registry, "flashsale_stream_pending_entries", labels) == 1);
  CHECK(value_of(registry, "flashsale_stream_lag_entries", labels) == 0);
  CHECK(value_of(registry, "flashsale_stream_retried_total", labels) == 1);
  CHECK(value_of(registry, "flashsale_stream_acked_total", labels) == 2);
  CHECK(value_of(registry, "flashsale_stream_delivered_total", labels) == 3);
  CHECK(value_of(registry, "flashsale_stream_oldest_pending_age_seconds", labels).has_value());
}

TEST_CASE("a timed ranking refresh is observed with its mode and outcome", "[metrics]") {
  RedisServer server;
  auto client = server.make_client();
  flashsale::SlidingWindowRankingOptions options;
  options.name = "best";
  options.window = 1h;
  options.bucket = 1min;
  options.metrics = {{"views", 1.0}};
  flashsale::SlidingWindowRanking ranking(*client, options);
  MetricsRegistry registry;
  ranking.record("p1", "views", 1);
  CHECK(flashsale::refresh_with_metrics(ranking, registry).status ==
        flashsale::RefreshStatus::Refreshed);
  CHECK(value_of(registry, "flashsale_ranking_refreshes_total",
                 {{"ranking", "best"}, {"mode", "union"}, {"status", "refreshed"}}) == 1);
  const auto families = registry.collect();
  const auto* duration = find_sample(families, "flashsale_ranking_refresh_duration_seconds",
                                     {{"ranking", "best"}, {"mode", "union"}});
  REQUIRE(duration != nullptr);
  CHECK(duration->histogram.count == 1);
}

TEST_CASE("collectors refuse ids that cannot be keys before any I/O", "[metrics]") {
  RedisServer server;
  auto client = server.make_client();
  FirstComeCouponIssuer issuer(*client);
  flashsale::StockReserver reserver(*client);
  flashsale::SaleScheduler scheduler(*client);
  flashsale::WaitingRoom room(*client);
  const long long before = server.commands_processed();
  CHECK_THROWS_AS(flashsale::coupon_metrics(issuer, {"bad id"}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(flashsale::coupon_metrics(issuer, {""}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(flashsale::stock_metrics(reserver, {"a{b}"}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(flashsale::outbox_metrics("outbox", nullptr), flashsale::InvalidArgument);
  CHECK_THROWS_AS(reserver.hold_expiry("bad scope"), flashsale::InvalidArgument);
  CHECK_THROWS_AS(flashsale::scheduler_metrics(scheduler, {"bad schedule"}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(flashsale::waiting_room_metrics(room, {"r{1}"}), flashsale::InvalidArgument);
  CHECK(server.commands_processed() == before + 1);
}

TEST_CASE("a collector whose Redis is gone is counted as failed and the scrape still renders",
          "[metrics]") {
  RedisServer server;
  auto options = server.connection_options();
  options.connect_timeout = 200ms;
  StandaloneClient client(options, flashsale::PoolOptions{2, 200ms});
  FirstComeCouponIssuer issuer(client);
  issuer.register_template(open_coupon(client, "gone", 5));
  MetricsRegistry registry;
  registry.counter("flashsale_test_total", "Still here.").inc();
  registry.add_collector("coupons", flashsale::coupon_metrics(issuer, {"gone"}));
  CHECK(value_of(registry, "flashsale_coupon_total", {{"coupon", "gone"}}) == 5);
  server.stop();
  const std::string text = flashsale::render_prometheus(registry);
  CHECK(text.find("flashsale_coupon_total") == std::string::npos);
  CHECK(text.find("flashsale_test_total 1\n") != std::string::npos);
  CHECK(text.find("flashsale_metrics_collector_errors_total{collector=\"coupons\"} 1\n") !=
        std::string::npos);
}

TEST_CASE(
    "a cluster client counts the MOVED and ASK redirects it follows and reports a pool per "
    "master",
    "[metrics][cluster]") {
  flashsale::testing::RedisCluster cluster;
  auto registry = std::make_shared<MetricsRegistry>();
  auto options = cluster.client_options(2);
  options.connection.metrics = registry;
  flashsale::ClusterClient client(options);
  const std::string tag = cluster.tag_on_node(0, "moving");
  const std::uint16_t slot = flashsale::hash_slot(tag);
  const auto key = [&](int index) { return "fs:test:{" + tag + "}:" + std::to_string(index); };
  for (int index = 0; index < 4; ++index) {
    client.execute({{"SET", key(index), "v"}, key(index), {}});
  }
  CHECK(value_of(*registry, "flashsale_redis_cluster_redirects_total", {{"type", "moved"}}) ==
        std::nullopt);

  cluster.migrate_slot(slot, 2, 10);
  CHECK(client.execute({{"GET", key(0)}, key(0), {}}).as_string() == "v");
  CHECK(value_of(*registry, "flashsale_redis_cluster_redirects_total", {{"type", "moved"}}) == 1);

  // Half of the slot moved back to master 0: a moved key is reached by ASK.
  cluster.begin_migration(slot, 2, 0);
  REQUIRE(cluster.move_keys(slot, 2, 0, 2) == 2);
  for (int index = 0; index < 4; ++index) {
    CHECK(client.execute({{"GET", key(index)}, key(index), {}}).as_string() == "v");
  }
  CHECK(value_of(*registry, "flashsale_redis_cluster_redirects_total", {{"type", "ask"}}) == 2);
  while (cluster.move_keys(slot, 2, 0, 10) > 0) {
  }
  cluster.finish_migration(slot, 2, 0);
  CHECK(calls_of(*registry, "command", "GET") == 5);

  // One pool per master the client talked to, each labelled with its node.
  const auto families = registry->collect();
  std::size_t pools = 0;
  for (const auto& family : families) {
    if (family.name == "flashsale_redis_pool_size") {
      pools = family.samples.size();
      for (const auto& sample : family.samples) {
        CHECK(sample.value == 2);
      }
    }
  }
  CHECK(pools >= 2);
}

TEST_CASE("the hold reaper collector reports the reaper's sweeps and reclaimed holds",
          "[metrics]") {
  RedisServer server;
  auto client = server.make_client();
  flashsale::StockReserver reserver(*client);
  reserver.load("reaped", {{"sku", 10}});
  CHECK(reserver.reserve("reaped", "h1", {{"sku", 1}}, 1ms).status ==
        flashsale::ReserveStatus::Reserved);
  CHECK(reserver.reserve("reaped", "h2", {{"sku", 1}}, 1ms).status ==
        flashsale::ReserveStatus::Reserved);
  MetricsRegistry registry;
  flashsale::HoldReaper reaper(reserver, {"reaped"}, flashsale::HoldReaperOptions{10ms, 100});
  const auto id = registry.add_collector("reaper", flashsale::hold_reaper_metrics(reaper, "main"));
  const MetricLabels labels{{"reaper", "main"}};
  CHECK(flashsale::testing::eventually([&] {
    return value_of(registry, "flashsale_hold_reaper_reclaimed_holds_total", labels) >= 1.0 &&
           value_of(registry, "flashsale_hold_reaper_sweeps_total", labels) >= 1.0;
  }));
  reaper.stop();
  // (h1 may have gone back when h2 was reserved: a reserve reclaims first.)
  CHECK(value_of(registry, "flashsale_hold_reaper_reclaimed_holds_total", labels) ==
        static_cast<double>(reaper.reclaimed()));
  CHECK(value_of(registry, "flashsale_hold_reaper_failed_sweeps_total", labels) == 0);
  registry.remove_collector(id);
}

TEST_CASE(
    "the scheduler collector reports pending and overdue events, promotions, cancellations "
    "and lateness as stats() does",
    "[metrics]") {
  RedisServer server;
  auto client = server.make_client();
  flashsale::SaleScheduler scheduler(*client);
  MetricsRegistry registry;
  registry.add_collector("scheduler", flashsale::scheduler_metrics(scheduler, {"sale"}));
  const MetricLabels labels{{"schedule", "sale"}};
  const auto now = server_now(*client);
  REQUIRE(scheduler.schedule("sale", "open", now - 2s).status ==
          flashsale::ScheduleStatus::Scheduled);
  REQUIRE(scheduler.schedule("sale", "teaser", now - 1s).status ==
          flashsale::ScheduleStatus::Scheduled);
  REQUIRE(scheduler.schedule("sale", "close", now + 1h).status ==
          flashsale::ScheduleStatus::Scheduled);

  CHECK(value_of(registry, "flashsale_scheduler_pending_events", labels) == 3);
  CHECK(value_of(registry, "flashsale_scheduler_overdue_events", labels) == 2);
  const auto age = value_of(registry, "flashsale_scheduler_oldest_overdue_age_seconds", labels);
  REQUIRE(age);
  CHECK(*age >= 2.0);
  // Before the first promotion there is no lateness to report (not a 0).
  CHECK(value_of(registry, "flashsale_scheduler_lateness_max_seconds", labels) == std::nullopt);

  CHECK(scheduler.promote_due("sale", 10).promoted.size() == 2);
  CHECK(scheduler.cancel("sale", "close").status == flashsale::CancelStatus::Cancelled);
  const auto stats = scheduler.stats("sale");
  REQUIRE(stats.lateness_max);
  CHECK(value_of(registry, "flashsale_scheduler_pending_events", labels) == 0);
  CHECK(value_of(registry, "flashsale_scheduler_overdue_events", labels) == 0);
  CHECK(value_of(registry, "flashsale_scheduler_oldest_overdue_age_seconds", labels) == 0);
  CHECK(value_of(registry, "flashsale_scheduler_promoted_total", labels) == 2);
  CHECK(value_of(registry, "flashsale_scheduler_cancelled_total", labels) == 1);
  const auto max = value_of(registry, "flashsale_scheduler_lateness_max_seconds", labels);
  REQUIRE(max);
  CHECK(*max == std::chrono::duration<double>(*stats.lateness_max).count());
  CHECK(*max >= 1.0);  // "open" was promoted at least 2 s after its time
  const auto p99 = value_of(registry, "flashsale_scheduler_lateness_seconds",
                            {{"schedule", "sale"}, {"quantile", "0.99"}});
  REQUIRE(p99);
  CHECK(*p99 == std::chrono::duration<double>(*stats.lateness_p99).count());
  CHECK(value_of(registry, "flashsale_scheduler_lateness_seconds",
                 {{"schedule", "sale"}, {"quantile", "0.5"}}) != std::nullopt);

  // A runner's own counters, through its collector.
  REQUIRE(scheduler.schedule("sale", "flash", server_now(*client)).status ==
          flashsale::ScheduleStatus::Scheduled);
  flashsale::SaleSchedulerRunnerOptions runner_options;
  runner_options.poll_interval = 10ms;
  runner_options.poll_jitter = 0ms;
  flashsale::SaleSchedulerRunner runner(scheduler, {"sale"}, runner_options);
  const auto id =
      registry.add_collector("runner", flashsale::scheduler_runner_metrics(runner, "r1"));
  const MetricLabels runner_labels{{"runner", "r1"}};
  CHECK(flashsale::testing::eventually([&] {
    return value_of(registry, "flashsale_scheduler_runner_promoted_total", runner_labels) == 1.0;
  }));
  runner.stop();
  CHECK(value_of(registry, "flashsale_scheduler_runner_calls_total", runner_labels) ==
        static_cast<double>(runner.calls()));
  CHECK(value_of(registry, "flashsale_scheduler_runner_failures_total", runner_labels) == 0);
  CHECK(value_of(registry, "flashsale_scheduler_promoted_total", labels) == 3);
  registry.remove_collector(id);
}

TEST_CASE("the waiting room collector reports waiting and admitted visitors and the room's totals",
          "[metrics]") {
  RedisServer server;
  auto client = server.make_client();
  flashsale::WaitingRoomOptions options;
  options.max_active = 2;
  flashsale::WaitingRoom room(*client, options);
  MetricsRegistry registry;
  registry.add_collector("rooms", flashsale::waiting_room_metrics(room, {"drop", "empty"}));
  const MetricLabels labels{{"room", "drop"}};
  for (const char* visitor : {"v1", "v2", "v3", "v4", "v5"}) {
    room.join("drop", visitor);
  }
  CHECK(value_of(registry, "flashsale_waiting_room_active_visitors", labels) == 2);
  CHECK(value_of(registry, "flashsale_waiting_room_waiting_visitors", labels) == 3);
  CHECK(value_of(registry, "flashsale_waiting_room_tickets_total", labels) == 5);
  CHECK(value_of(registry, "flashsale_waiting_room_admitted_total", labels) == 2);

  CHECK(room.complete("drop", "v1") == flashsale::CompleteStatus::Completed);
  CHECK(room.leave("drop", "v5") == flashsale::LeaveStatus::LeftQueue);
  room.advance("drop");
  CHECK(value_of(registry, "flashsale_waiting_room_active_visitors", labels) == 2);
  CHECK(value_of(registry, "flashsale_waiting_room_waiting_visitors", labels) == 1);
  CHECK(value_of(registry, "flashsale_waiting_room_admitted_total", labels) == 3);
  CHECK(value_of(registry, "flashsale_waiting_room_completed_total", labels) == 1);
  CHECK(value_of(registry, "flashsale_waiting_room_left_total", labels) == 1);
  CHECK(value_of(registry, "flashsale_waiting_room_abandoned_total", labels) == 0);
  CHECK(value_of(registry, "flashsale_waiting_room_expired_total", labels) == 0);
  // The rate is left out until the room measured 1 s (and stays measured).
  const auto rate = value_of(registry, "flashsale_waiting_room_admission_rate_per_second", labels);
  CHECK((!rate || room.stats("drop").measured_rate_per_second.has_value()));
  // A room nobody joined reports zeros, not an error.
  CHECK(value_of(registry, "flashsale_waiting_room_waiting_visitors", {{"room", "empty"}}) == 0);

  flashsale::WaitingRoomRunnerOptions runner_options;
  runner_options.interval = 10ms;
  flashsale::WaitingRoomRunner runner(room, {"drop"}, runner_options);
  const auto id =
      registry.add_collector("runner", flashsale::waiting_room_runner_metrics(runner, "w1"));
  const MetricLabels runner_labels{{"runner", "w1"}};
  CHECK(flashsale::testing::eventually([&] {
    return value_of(registry, "flashsale_waiting_room_runner_passes_total", runner_labels) >= 1.0;
  }));
  runner.stop();
  CHECK(value_of(registry, "flashsale_waiting_room_runner_passes_total", runner_labels) ==
        static_cast<double>(runner.passes()));
  CHECK(value_of(registry, "flashsale_waiting_room_runner_admitted_total", runner_labels) ==
        static_cast<double>(runner.admitted()));
  CHECK(value_of(registry, "flashsale_waiting_room_runner_failures_total", runner_labels) == 0);
  registry.remove_collector(id);
}

TEST_CASE("refusals retried within the transient retry budget are counted per entry sent again",
          "[metrics]") {
  RedisServer server;
  auto registry = std::make_shared<MetricsRegistry>();
  auto client = metered_client(server, registry, flashsale::PoolOptions{1});
  const flashsale::ScriptCall call{
      &flashsale::testing::scripts::refuse_with_tryagain, {"fs:test:refusals"}, {"3"}};
  CHECK(client->run_script(call).as_integer() == 4);
  CHECK(value_of(*registry, "flashsale_redis_transient_retries_total") == 3);
  CHECK(calls_of(*registry, "script", "refuse_with_tryagain") == 1);
  CHECK(errors_of(*registry, "reply", "refuse_with_tryagain") == 0);

  // Without a budget the refusal surfaces at once: an error, no retry.
  auto options = server.connection_options();
  options.metrics = registry;
  options.transient_retry_budget = 0ms;
  StandaloneClient impatient(options);
  const flashsale::ScriptCall refused{
      &flashsale::testing::scripts::refuse_with_tryagain, {"fs:test:impatient"}, {"1"}};
  CHECK_THROWS_AS(impatient.run_script(refused), flashsale::ReplyError);
  CHECK(value_of(*registry, "flashsale_redis_transient_retries_total") == 3);
  CHECK(errors_of(*registry, "reply", "refuse_with_tryagain") == 1);
}

TEST_CASE(
    "a sentinel client counts the master change it follows after a failover and its pool per "
    "master",
    "[metrics][sentinel]") {
  flashsale::testing::RedisSentinelGroup group;
  auto registry = std::make_shared<MetricsRegistry>();
  auto options = group.client_options(2);
  options.connection.metrics = registry;
  flashsale::SentinelClient client(options);
  client.execute({{"SET", "fs:test:k", "1"}, {}, {}});
  const std::string first = client.current_master();
  CHECK(value_of(*registry, "flashsale_redis_sentinel_master_changes_total") == std::nullopt);
  CHECK(value_of(*registry, "flashsale_redis_pool_size", {{"node", first}}) == 2);

  const std::size_t old_master = group.master_index();
  group.sentinel(0).admin().execute({{"SENTINEL", "FAILOVER", "flashsale"}, {}, {}});
  group.wait_for_failover(old_master);
  // Until the sentinels turn the old master into a replica it still takes
  // writes, and the client has no reason to look again.
  REQUIRE(flashsale::testing::eventually(
      [&] {
        try {
          const auto role = group.node(old_master).admin().execute({{"ROLE"}, {}, {}});
          return role.as_array().at(0).as_string() == "slave";
        } catch (const flashsale::ConnectionError&) {
          return false;  // the reconfiguration closes client connections
        }
      },
      30s));
  client.execute({{"SET", "fs:test:k", "2"}, {}, {}});
  CHECK(client.current_master() != first);
  CHECK(value_of(*registry, "flashsale_redis_sentinel_master_changes_total") == 1);
  CHECK(calls_of(*registry, "command", "SET") == 2);
  CHECK(errors_of(*registry, "reply", "SET") == 0);
  // The old master's pool is gone with it; the new one is counted.
  CHECK(value_of(*registry, "flashsale_redis_pool_size", {{"node", client.current_master()}}) == 2);
  CHECK(value_of(*registry, "flashsale_redis_pool_size", {{"node", first}}) == 0);
}
