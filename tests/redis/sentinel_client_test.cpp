// SentinelClient against real `redis-server --sentinel` processes: it finds
// the master of a service, runs the components unchanged, refuses bad input
// before any I/O, and never sends a command over a connection to a node that
// is not master.
#include <chrono>
#include <string>

#include "catch.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/sentinel_client.hpp"
#include "redis_sentinel.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::SentinelClient;
using flashsale::SentinelClientOptions;
using flashsale::testing::RedisSentinelGroup;
using flashsale::testing::RedisSentinelOptions;

TEST_CASE("bad sentinel client options raise InvalidArgument before any I/O", "[sentinel]") {
  SentinelClientOptions good;
  good.sentinels = {"127.0.0.1:1"};  // nothing listens: only a refusal before I/O passes
  good.service = "svc";
  CHECK_NOTHROW(SentinelClient(good));

  auto bad = [&](auto change) {
    SentinelClientOptions options = good;
    change(options);
    CHECK_THROWS_AS(SentinelClient(options), flashsale::InvalidArgument);
  };
  bad([](SentinelClientOptions& o) { o.sentinels.clear(); });
  bad([](SentinelClientOptions& o) { o.sentinels = {"no-port"}; });
  bad([](SentinelClientOptions& o) { o.sentinels = {"127.0.0.1:99999"}; });
  bad([](SentinelClientOptions& o) { o.service.clear(); });
  bad([](SentinelClientOptions& o) { o.service = "has space"; });
  bad([](SentinelClientOptions& o) { o.service = "{brace}"; });
  bad([](SentinelClientOptions& o) { o.service = std::string(129, 's'); });
  bad([](SentinelClientOptions& o) { o.connection.unix_socket = "/tmp/redis.sock"; });
  bad([](SentinelClientOptions& o) { o.sentinel_connection.unix_socket = "/tmp/redis.sock"; });
  bad([](SentinelClientOptions& o) { o.pool.size = 0; });
  bad([](SentinelClientOptions& o) { o.pool.shared_connections = 2; });
  bad([](SentinelClientOptions& o) { o.retry_budget = -1ms; });
  bad([](SentinelClientOptions& o) { o.connection.durability.replicas = -1; });
  bad([](SentinelClientOptions& o) {
    o.connection.durability.replicas = 1;
    o.connection.durability.timeout = o.connection.command_timeout;
  });
  bad([](SentinelClientOptions& o) {
    o.connection.durability.replicas = 1;
    o.connection.durability.timeout = 0ms;
  });
}

TEST_CASE(
    "a sentinel client resolves the master of its service (sentinel password), runs a component "
    "on it and reports unknown services and unreachable sentinels distinctly",
    "[sentinel]") {
  RedisSentinelOptions deployment;
  deployment.sentinel_password = "sentinel-secret";
  RedisSentinelGroup group(deployment);
  auto client = group.make_client(4);
  flashsale::FirstComeCouponIssuer issuer(*client);
  flashsale::CouponTemplate coupon;
  coupon.id = "sentinel-basic";
  coupon.total = 2;
  coupon.opens_at = flashsale::testing::server_now(*client) - 1h;
  coupon.closes_at = coupon.opens_at + 2h;
  REQUIRE(issuer.register_template(coupon).status == flashsale::RegisterStatus::Created);
  CHECK(issuer.issue(coupon.id, "alice").status == flashsale::IssueStatus::Issued);
  CHECK(client->current_master() == group.node(0).address());
  // The write is on the master (node 0), not on the replica only.
  CHECK(group.node(0)
            .admin()
            .execute({{"HLEN", "fs:coupon:{sentinel-basic}:issued"}, {}, {}})
            .as_integer() == 1);

  SentinelClientOptions unknown = group.client_options(1);
  unknown.service = "no-such-service";
  SentinelClient unknown_client(unknown);
  CHECK_THROWS_AS(unknown_client.execute({{"PING"}, {}, {}}), flashsale::ConfigurationError);

  SentinelClientOptions wrong_password = group.client_options(1);
  wrong_password.sentinel_connection.password = "wrong";
  SentinelClient refused(wrong_password);
  CHECK_THROWS_AS(refused.execute({{"PING"}, {}, {}}), flashsale::ReplyError);

  SentinelClientOptions nobody = group.client_options(1);
  nobody.sentinels = {"127.0.0.1:1"};
  nobody.retry_budget = 200ms;
  SentinelClient unreachable(nobody);
  CHECK_THROWS_AS(unreachable.execute({{"PING"}, {}, {}}), flashsale::ConnectionError);
}

TEST_CASE(
    "a node that is not master is never used: a sentinel naming the replica (ROLE slave) leads "
    "to no command on it and, with no master to find, to ConnectionError when the budget ends",
    "[sentinel]") {
  RedisSentinelGroup group;
  auto& replica = group.node(1);
  // A second, private sentinel that monitors the replica as if it were master.
  flashsale::testing::RedisServerOptions lying;
  lying.arguments = {"--sentinel"};
  lying.config_lines = {"sentinel monitor wrong 127.0.0.1 " + std::to_string(replica.port()) +
                        " 1"};
  flashsale::testing::RedisServer liar(lying);
  SentinelClientOptions options = group.client_options(1);
  options.sentinels = {liar.address()};
  options.service = "wrong";
  options.retry_budget = 300ms;
  SentinelClient client(options);
  const auto before = replica.commands_processed();
  try {
    client.execute({{"SET", "must-not-land", "x"}, {}, {}});
    FAIL("a write went through a replica");
  } catch (const flashsale::ConnectionError& error) {
    CHECK(std::string(error.what()).find("not master") != std::string::npos);
  }
  // Only ROLE (and our INFO reads) reached the replica: no SET.
  const auto stats = replica.admin().execute({{"INFO", "commandstats"}, {}, {}}).as_string();
  CHECK(stats.find("cmdstat_set:") == std::string::npos);
  CHECK(replica.commands_processed() > before);
}
