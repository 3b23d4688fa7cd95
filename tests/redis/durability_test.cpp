// Opt-in durability (WAIT behind state-changing scripts) and the persistence
// preflight, on a standalone server and a standalone master with a replica.
#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/durability.hpp"
#include "flashsale/error.hpp"
#include "flashsale/log.hpp"
#include "flashsale/preflight.hpp"
#include "flashsale/sharded_coupon_issuer.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssueStatus;
using flashsale::testing::RedisServer;

namespace {

flashsale::CouponTemplate open_coupon(flashsale::Client& client, const std::string& id) {
  flashsale::CouponTemplate coupon;
  coupon.id = id;
  coupon.total = 100;
  coupon.opens_at = flashsale::testing::server_now(client) - 1h;
  coupon.closes_at = coupon.opens_at + 2h;
  return coupon;
}

// `timeout` is short where no replica can answer (the call waits all of it)
// and generous where one is attached, so a loaded machine (ASan, 2 shared
// cores) does not turn a slow acknowledgement into a failure.
flashsale::ConnectionOptions durable(flashsale::ConnectionOptions options,
                                     std::chrono::milliseconds timeout = 200ms) {
  options.durability.replicas = 1;
  options.durability.timeout = timeout;
  options.command_timeout = std::max(options.command_timeout, timeout + 1s);
  return options;
}

// Collects warnings while alive; restores the default sink after.
class CapturedLog {
 public:
  CapturedLog() {
    flashsale::set_log_sink([this](flashsale::LogLevel, std::string_view message) {
      const std::lock_guard<std::mutex> lock(mutex_);
      messages_.emplace_back(message);
    });
  }
  ~CapturedLog() { flashsale::set_log_sink({}); }
  int count_containing(const std::string& text) {
    const std::lock_guard<std::mutex> lock(mutex_);
    int count = 0;
    for (const auto& message : messages_) {
      count += message.find(text) != std::string::npos ? 1 : 0;
    }
    return count;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> messages_;
};

}  // namespace

TEST_CASE(
    "with durability and no replica, a state-changing call throws DurabilityError carrying the "
    "script's reply, the write happened, and read-only calls return normally",
    "[durability]") {
  RedisServer server;
  auto plain = server.make_client(2);
  FirstComeCouponIssuer setup(*plain);
  const auto coupon = open_coupon(*plain, "durable-alone");
  REQUIRE(setup.register_template(coupon).status == flashsale::RegisterStatus::Created);

  flashsale::StandaloneClient client(durable(server.connection_options()));
  FirstComeCouponIssuer issuer(client);
  try {
    issuer.issue(coupon.id, "alice");
    FAIL("no DurabilityError without a replica");
  } catch (const flashsale::DurabilityError& error) {
    CHECK(error.acknowledged_replicas() == 0);
    CHECK(error.requested_replicas() == 1);
    REQUIRE(error.replies().size() == 1);
    CHECK_FALSE(error.replies().front().is_error());
  }
  // It happened on the master: a retry without durability reports it.
  const auto again = setup.issue(coupon.id, "alice");
  CHECK(again.status == IssueStatus::AlreadyIssued);
  CHECK(again.sequence == 1);
  // Reads are not followed by WAIT.
  const auto stats = issuer.stats(coupon.id);
  REQUIRE(stats.has_value());
  CHECK(stats->issued == 1);
  // Nor are a sharded coupon's per-shard stats.
  auto sharded_coupon = open_coupon(*plain, "durable-sharded");
  REQUIRE(flashsale::ShardedCouponIssuer(*plain).register_template(sharded_coupon).status ==
          flashsale::ShardedRegisterStatus::Created);
  const auto sharded_stats = flashsale::ShardedCouponIssuer(client).stats(sharded_coupon.id);
  REQUIRE(sharded_stats.has_value());
  CHECK(sharded_stats->remaining == sharded_coupon.total);
  // A script that failed wrote nothing: its error surfaces, not DurabilityError.
  CHECK_THROWS_AS(client.run_script({&flashsale::bundled_script("issue_coupon"), {"a"}, {}}),
                  flashsale::ReplyError);
}

TEST_CASE(
    "with durability and a replica attached, calls (single, pipelined, auto-pipelined) return "
    "normally and the replica already holds their writes",
    "[durability]") {
  RedisServer master;
  flashsale::testing::RedisServerOptions replica_options;
  replica_options.config_lines = {"replicaof 127.0.0.1 " + std::to_string(master.port())};
  RedisServer replica(replica_options);
  REQUIRE(flashsale::testing::eventually([&] {
    return master.admin()
               .execute({{"INFO", "replication"}, {}, {}})
               .as_string()
               .find("state=online") != std::string::npos;
  }));

  flashsale::PoolOptions shared;
  shared.size = 2;
  shared.shared_connections = 2;
  for (const auto& pool : {flashsale::PoolOptions{}, shared}) {
    flashsale::StandaloneClient client(durable(master.connection_options(), 5s), pool);
    FirstComeCouponIssuer issuer(client);
    const std::string id = "durable-replicated-" + std::to_string(pool.shared_connections);
    const auto coupon = open_coupon(client, id);
    REQUIRE(issuer.register_template(coupon).status == flashsale::RegisterStatus::Created);
    CHECK(issuer.issue(id, "alice").status == IssueStatus::Issued);
    const auto many = issuer.issue_many(id, {"bob", "carol", "dave"});
    REQUIRE(many.size() == 3);
    CHECK(many[2].status == IssueStatus::Issued);
    // WAIT returned: the replica has applied every write already.
    const std::string issued_key = "fs:coupon:{" + id + "}:issued";
    CHECK(replica.admin().execute({{"HLEN", issued_key}, issued_key, {}}).as_integer() == 4);
  }
}

TEST_CASE("bad durability and retry options raise InvalidArgument at construction",
          "[durability]") {
  flashsale::ConnectionOptions options;
  options.port = 1;  // nothing listens: only a refusal before I/O passes
  options.durability.replicas = -1;
  CHECK_THROWS_AS(flashsale::StandaloneClient(options), flashsale::InvalidArgument);
  options.durability.replicas = 1;
  options.durability.timeout = -1ms;
  CHECK_THROWS_AS(flashsale::StandaloneClient(options), flashsale::InvalidArgument);
  options.durability.timeout = options.command_timeout;
  CHECK_THROWS_AS(flashsale::StandaloneClient(options), flashsale::InvalidArgument);
  options.durability.timeout = 0ms;  // forever, but the command timeout is not
  CHECK_THROWS_AS(flashsale::StandaloneClient(options), flashsale::InvalidArgument);
  options.command_timeout = 0ms;
  CHECK_NOTHROW(flashsale::StandaloneClient(options));
  options.command_timeout = 1000ms;
  options.durability.timeout = 999ms;
  CHECK_NOTHROW(flashsale::StandaloneClient(options));
}

TEST_CASE(
    "persistence preflight: appendonly no is warned about once per client, refused under "
    "Refuse, ignored under Skip, and appendonly yes passes",
    "[preflight][persistence]") {
  RedisServer volatile_server;
  {
    CapturedLog log;
    auto client = volatile_server.make_client(2);
    FirstComeCouponIssuer first(*client);
    FirstComeCouponIssuer second(*client);
    CHECK(log.count_containing("appendonly no") == 1);
    auto other = volatile_server.make_client(1);
    FirstComeCouponIssuer third(*other);
    CHECK(log.count_containing("appendonly no") == 2);
  }
  {
    CapturedLog log;
    auto options = volatile_server.connection_options();
    options.persistence_check = flashsale::PersistenceCheck::Refuse;
    flashsale::StandaloneClient client(options);
    CHECK_THROWS_AS(FirstComeCouponIssuer(client), flashsale::ConfigurationError);
    CHECK_THROWS_AS(client.server_info(), flashsale::ConfigurationError);  // every time
    options.persistence_check = flashsale::PersistenceCheck::Skip;
    flashsale::StandaloneClient skipping(options);
    FirstComeCouponIssuer issuer(skipping);
    CHECK(log.count_containing("appendonly") == 0);
  }
  flashsale::testing::RedisServerOptions aof;
  aof.config_lines = {"appendonly yes"};
  RedisServer durable_server(aof);
  CapturedLog log;
  auto options = durable_server.connection_options();
  options.persistence_check = flashsale::PersistenceCheck::Refuse;
  flashsale::StandaloneClient client(options);
  CHECK_NOTHROW(FirstComeCouponIssuer(client));
  CHECK(client.server_info().aof_enabled);
  CHECK(log.count_containing("appendonly") == 0);
}

TEST_CASE("check_persistence judges the INFO it is given and sends nothing",
          "[preflight][persistence]") {
  flashsale::ServerInfo info;
  info.version = "7.0.15";
  info.aof_enabled = false;
  CHECK_THROWS_AS(flashsale::check_persistence(info, flashsale::PersistenceCheck::Refuse),
                  flashsale::ConfigurationError);
  CHECK_NOTHROW(flashsale::check_persistence(info, flashsale::PersistenceCheck::Skip));
  info.aof_enabled = true;
  CHECK_NOTHROW(flashsale::check_persistence(info, flashsale::PersistenceCheck::Refuse));
}
