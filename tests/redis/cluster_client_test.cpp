// The cluster client against a real local 3-master Redis Cluster: slots,
// routing, pipelines, MOVED, ASK, TRYAGAIN, NOSCRIPT and unreachable nodes.
#include "flashsale/cluster_client.hpp"

#include <chrono>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"
#include "flashsale/standalone_client.hpp"
#include "lua/test_scripts.hpp"
#include "redis_cluster.hpp"

using namespace std::chrono_literals;
using flashsale::ClusterClient;
using flashsale::ClusterClientOptions;
using flashsale::Command;
using flashsale::hash_slot;
using flashsale::ScriptCall;
using flashsale::testing::RedisCluster;

namespace {

Command command(std::vector<std::string> arguments, std::string routing_key) {
  return Command{std::move(arguments), std::move(routing_key), {}};
}

flashsale::Reply admin(RedisCluster& cluster, std::size_t index,
                       std::vector<std::string> arguments) {
  return cluster.node(index).admin().execute(Command{std::move(arguments), {}, {}});
}

long long keys_in_slot(RedisCluster& cluster, std::size_t index, std::uint16_t slot) {
  return admin(cluster, index, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}).as_integer();
}

const flashsale::Script& time_script() {
  return flashsale::testing::scripts::server_time_ms;
}

}  // namespace

TEST_CASE("hash_slot agrees with CLUSTER KEYSLOT for edge cases and random keys", "[cluster]") {
  RedisCluster cluster;
  std::vector<std::string> keys{"",
                                "{}",
                                "{",
                                "}",
                                "}{",
                                "{}{a}",
                                "a{}{b}",
                                "{a}b",
                                "a{b}c{d}",
                                "{{a}}",
                                "{a",
                                "a}",
                                "a{b",
                                "foo{}{bar}",
                                "foo{{bar}}zap",
                                "{user1000}.following",
                                "fs:coupon:{summer}:stock",
                                std::string("nul\0in{the}key", 14),
                                "\xff\xfe{\x80}"};
  std::mt19937 random(20261122);
  std::uniform_int_distribution<int> length(0, 24);
  std::uniform_int_distribution<int> byte(0, 255);
  const std::string braces = "{}{}ab";
  for (int count = 0; count < 3000; ++count) {
    std::string key;
    const int size = length(random);
    for (int position = 0; position < size; ++position) {
      // Braces are frequent so that tags of every shape occur.
      key.push_back(byte(random) < 64 ? braces[static_cast<std::size_t>(byte(random)) % 6]
                                      : static_cast<char>(byte(random)));
    }
    keys.push_back(std::move(key));
  }
  std::vector<Command> commands;
  for (const auto& key : keys) {
    commands.push_back(Command{{"CLUSTER", "KEYSLOT", key}, {}, {}});
  }
  const auto replies = cluster.node(0).admin().execute_pipeline(commands);
  REQUIRE(replies.size() == keys.size());
  for (std::size_t index = 0; index < keys.size(); ++index) {
    INFO("key #" << index << ": " << keys[index]);
    CHECK(hash_slot(keys[index]) == replies[index].as_integer());
  }
}

TEST_CASE("a command goes straight to the master that serves its key's slot", "[cluster]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  CHECK(client->execute(command({"PING"}, {})).as_string() == "PONG");  // loads the slot map

  for (std::size_t target = 0; target < cluster.size(); ++target) {
    const std::string key = "fs:test:{" + cluster.tag_on_node(target, "route") + "}:value";
    std::vector<long long> before;
    for (std::size_t index = 0; index < cluster.size(); ++index) {
      before.push_back(cluster.node(index).commands_processed());
    }
    client->execute(command({"SET", key, "here"}, key));
    for (std::size_t index = 0; index < cluster.size(); ++index) {
      INFO("target " << target << ", node " << index);
      // Each commands_processed() counts its own INFO: +1 means nothing else arrived.
      const long long expected = index == target ? 2 : 1;
      CHECK(cluster.node(index).commands_processed() - before[index] == expected);
    }
    CHECK(admin(cluster, target, {"GET", key}).as_string() == "here");
    CHECK(client->execute(command({"GET", key}, key)).as_string() == "here");
  }
}

TEST_CASE("a pipeline spanning every master returns the replies in the caller's order",
          "[cluster]") {
  RedisCluster cluster;
  auto client = cluster.make_client(4);
  std::vector<std::string> tags;
  for (std::size_t index = 0; index < cluster.size(); ++index) {
    tags.push_back(cluster.tag_on_node(index, "pipe"));
  }
  std::vector<Command> commands;
  constexpr int kCommands = 300;
  for (int index = 0; index < kCommands; ++index) {
    const std::string key = "fs:test:{" + tags[static_cast<std::size_t>(index) % tags.size()] +
                            "}:n" + std::to_string(index);
    if (index % 7 == 0) {
      commands.push_back(command({"ECHO", "e" + std::to_string(index)}, {}));  // any node
    } else {
      commands.push_back(command({"INCRBY", key, std::to_string(index)}, key));
    }
  }
  const auto replies = client->execute_pipeline(commands);
  REQUIRE(replies.size() == commands.size());
  for (int index = 0; index < kCommands; ++index) {
    INFO("entry " << index);
    if (index % 7 == 0) {
      CHECK(replies[static_cast<std::size_t>(index)].as_string() == "e" + std::to_string(index));
    } else {
      CHECK(replies[static_cast<std::size_t>(index)].as_integer() == index);
    }
  }
  // An error reply stays in its place and does not hide the others.
  const std::string key = "fs:test:{" + tags[1] + "}:text";
  const auto mixed = client->execute_pipeline(
      {command({"SET", key, "abc"}, key), command({"INCR", key}, key), command({"GET", key}, key)});
  REQUIRE(mixed.size() == 3);
  CHECK(mixed[0].as_string() == "OK");
  CHECK(mixed[1].is_error());
  CHECK_THROWS_AS(mixed[1].as_integer(), flashsale::ReplyError);
  CHECK(mixed[2].as_string() == "abc");
}

TEST_CASE(
    "after a slot moved, MOVED updates the map and later calls go straight to the new "
    "master",
    "[cluster]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  const std::string tag = cluster.tag_on_node(0, "moving");
  const std::uint16_t slot = hash_slot(tag);
  for (int index = 0; index < 25; ++index) {
    const std::string key = "fs:test:{" + tag + "}:" + std::to_string(index);
    client->execute(command({"SET", key, std::to_string(index)}, key));
  }
  cluster.migrate_slot(slot, 2, 7);
  REQUIRE(cluster.master_of_slot(slot) == 2);
  CHECK(keys_in_slot(cluster, 2, slot) == 25);

  const std::string key = "fs:test:{" + tag + "}:24";
  CHECK(client->execute(command({"GET", key}, key)).as_string() == "24");  // via MOVED
  const long long old_master = cluster.node(0).commands_processed();
  CHECK(client->execute(command({"GET", key}, key)).as_string() == "24");
  CHECK(cluster.node(0).commands_processed() - old_master == 1);  // only its own INFO

  // A pipeline whose entries all meet MOVED comes back whole.
  cluster.migrate_slot(slot, 1, 100);
  std::vector<Command> reads;
  for (int index = 0; index < 25; ++index) {
    const std::string each = "fs:test:{" + tag + "}:" + std::to_string(index);
    reads.push_back(command({"GET", each}, each));
  }
  const auto values = client->execute_pipeline(reads);
  REQUIRE(values.size() == 25);
  for (int index = 0; index < 25; ++index) {
    CHECK(values[static_cast<std::size_t>(index)].as_string() == std::to_string(index));
  }
}

TEST_CASE("during a migration ASK reaches moved and new keys and TRYAGAIN waits for the rest",
          "[cluster]") {
  RedisCluster cluster;
  auto client = cluster.make_client(4);
  const std::string tag = cluster.tag_on_node(1, "asking");
  const std::uint16_t slot = hash_slot(tag);
  const auto key = [&](int index) { return "fs:test:{" + tag + "}:" + std::to_string(index); };
  for (int index = 0; index < 20; ++index) {
    client->execute(command({"SET", key(index), "v" + std::to_string(index)}, key(index)));
  }

  cluster.begin_migration(slot, 1, 0);
  REQUIRE(cluster.move_keys(slot, 1, 0, 10) == 10);
  REQUIRE(keys_in_slot(cluster, 0, slot) == 10);

  for (int index = 0; index < 20; ++index) {
    INFO("key " << index);
    CHECK(client->execute(command({"GET", key(index)}, key(index))).as_string() ==
          "v" + std::to_string(index));
  }
  // A key that exists nowhere yet is created on the importing master.
  client->execute(command({"SET", key(100), "new"}, key(100)));
  CHECK(keys_in_slot(cluster, 0, slot) == 11);
  CHECK(client->execute(command({"GET", key(100)}, key(100))).as_string() == "new");

  // A pipeline mixing moved, unmoved and new keys of the slot.
  const auto replies = client->execute_pipeline(
      {command({"GET", key(0)}, key(0)), command({"SET", key(101), "x"}, key(101)),
       command({"GET", key(19)}, key(19)), command({"GET", key(101)}, key(101))});
  CHECK(replies[0].as_string() == "v0");
  CHECK(replies[1].as_string() == "OK");
  CHECK(replies[2].as_string() == "v19");
  CHECK(replies[3].as_string() == "x");

  // Keys split between the two masters: refused with TRYAGAIN (not run) and
  // retried until the migration completes.
  const auto still_on_source =
      admin(cluster, 1, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "100"}).as_array();
  REQUIRE_FALSE(still_on_source.empty());
  const std::string unmoved_key = still_on_source.front().as_string();
  std::string moved_key;
  for (int index = 0; index < 20 && moved_key.empty(); ++index) {
    bool on_source = false;
    for (const auto& each : still_on_source) {
      on_source = on_source || each.as_string() == key(index);
    }
    if (!on_source) {
      moved_key = key(index);
    }
  }
  REQUIRE_FALSE(moved_key.empty());
  const std::string script =
      "return redis.call('GET', KEYS[1]) .. '+' .. redis.call('GET', KEYS[2])";
  auto both = std::async(std::launch::async, [&] {
    return client->execute(command({"EVAL", script, "2", moved_key, unmoved_key}, moved_key))
        .as_string();
  });
  CHECK(both.wait_for(300ms) == std::future_status::timeout);  // retrying TRYAGAIN
  while (cluster.move_keys(slot, 1, 0, 10) > 0) {
  }
  cluster.finish_migration(slot, 1, 0);
  const std::string joined = both.get();
  CHECK(joined.find('+') != std::string::npos);
  CHECK(joined.size() > 3);
  CHECK(keys_in_slot(cluster, 0, slot) == 22);
}

TEST_CASE("SCRIPT FLUSH on one master: script calls to its slots still succeed", "[cluster]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  std::vector<ScriptCall> calls;
  for (std::size_t index = 0; index < cluster.size(); ++index) {
    for (int repeat = 0; repeat < 3; ++repeat) {
      calls.push_back(ScriptCall{
          &time_script(), {"fs:test:{" + cluster.tag_on_node(index, "script") + "}:k"}, {}});
    }
  }
  const long long before = client->run_script(calls[3]).as_integer();
  for (const auto& reply : client->run_script_pipeline(calls)) {
    CHECK(reply.as_integer() >= before);
  }

  admin(cluster, 1, {"SCRIPT", "FLUSH"});
  CHECK(client->run_script(calls[3]).as_integer() >= before);  // calls[3] routes to node 1
  const std::string sha(time_script().sha1);
  CHECK(admin(cluster, 1, {"SCRIPT", "EXISTS", sha}).as_array().at(0).as_integer() == 1);

  for (std::size_t index = 0; index < cluster.size(); ++index) {
    admin(cluster, index, {"SCRIPT", "FLUSH"});
  }
  const auto replies = client->run_script_pipeline(calls);
  REQUIRE(replies.size() == calls.size());
  for (const auto& reply : replies) {
    CHECK(reply.as_integer() >= before);
  }
  for (std::size_t index = 0; index < cluster.size(); ++index) {
    CHECK(admin(cluster, index, {"SCRIPT", "EXISTS", sha}).as_array().at(0).as_integer() == 1);
  }
  // A script without keys runs on any master.
  CHECK(client->run_script(ScriptCall{&time_script(), {}, {}}).as_integer() >= before);
}

TEST_CASE("server_info of a cluster reports cluster mode and the version", "[cluster]") {
  RedisCluster cluster;
  auto client = cluster.make_client(1);
  const auto info = client->server_info();
  CHECK(info.mode == "cluster");
  CHECK(info.major_version >= 6);
  CHECK(info.maxmemory_policy == "noeviction");
}

TEST_CASE("cluster options that cannot work are refused before connecting", "[cluster]") {
  ClusterClientOptions options;
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);  // no seed
  options.seeds = {"127.0.0.1"};
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);  // no port
  options.seeds = {"127.0.0.1:70000"};
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
  options.seeds = {"127.0.0.1:7000", "[::1]:7001"};
  CHECK_NOTHROW(ClusterClient(options));
  options.connection.db = 1;
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
  options.connection.db = 0;
  options.connection.unix_socket = "/tmp/redis.sock";
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
  options.connection.unix_socket.clear();
  options.pool.size = 0;
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
}

TEST_CASE("a command that timed out surfaces TimeoutError and is not sent again", "[cluster]") {
  RedisCluster cluster;
  auto options = cluster.client_options(2);
  options.connection.command_timeout = 100ms;
  options.retry_after_connection_loss = true;  // even so: a timeout is never retried
  ClusterClient client(options);
  const std::string key = "fs:test:{" + cluster.tag_on_node(1, "slow") + "}:count";
  CHECK(client.execute(command({"INCR", key}, key)).as_integer() == 1);

  auto sleeper = std::async(std::launch::async, [&] {
    flashsale::StandaloneClient admin(cluster.node(1).connection_options());
    admin.execute(Command{{"DEBUG", "SLEEP", "1"}, {}, {}});
  });
  // Wait until master 1 is busy sleeping: a short PING to it times out.
  auto probe_options = cluster.node(1).connection_options();
  probe_options.command_timeout = 20ms;
  flashsale::StandaloneClient probe(probe_options);
  for (bool sleeping = false; !sleeping;) {
    try {
      probe.execute(command({"PING"}, {}));
      std::this_thread::sleep_for(5ms);
    } catch (const flashsale::TimeoutError&) {
      sleeping = true;
    }
  }
  try {
    client.execute(command({"INCR", key}, key));
    FAIL("no timeout");
  } catch (const flashsale::TimeoutError& error) {
    const std::string message = error.what();
    INFO(message);
    CHECK(message.find("may have run") != std::string::npos);
  }
  sleeper.get();
  // The timed-out INCR ran once, after the sleep; nothing re-sent it.
  CHECK(admin(cluster, 1, {"GET", key}).as_string() == "2");
  CHECK(client.execute(command({"INCR", key}, key)).as_integer() == 3);
}

TEST_CASE("a seed that is not a cluster node is refused with the server's error at once",
          "[cluster]") {
  flashsale::testing::RedisServer standalone;
  ClusterClientOptions options;
  options.seeds = {standalone.address()};
  ClusterClient client(options);
  try {
    client.execute(command({"GET", "k"}, "k"));
    FAIL("no exception");
  } catch (const flashsale::ReplyError& error) {
    const std::string message = error.what();
    INFO(message);
    CHECK(message.find("cluster support disabled") != std::string::npos);
    CHECK(message.find(std::to_string(standalone.port())) != std::string::npos);
  }
}

TEST_CASE("with no reachable seed a call fails with ConnectionError once the budget is spent",
          "[cluster]") {
  ClusterClientOptions options;
  {
    flashsale::testing::RedisServer gone;  // a port that was just free
    options.seeds = {gone.address()};
  }
  options.retry_budget = 200ms;
  ClusterClient client(options);
  CHECK_THROWS_AS(client.execute(command({"GET", "k"}, "k")), flashsale::ConnectionError);
}

TEST_CASE(
    "calls to a stopped master's slots fail with ConnectionError and succeed after its "
    "restart",
    "[cluster]") {
  RedisCluster cluster;
  auto options = cluster.client_options(2);
  options.retry_budget = 300ms;
  ClusterClient client(options);
  const std::string key = "fs:test:{" + cluster.tag_on_node(2, "down") + "}:k";
  client.execute(command({"SET", key, "1"}, key));

  cluster.node(2).kill();
  try {
    client.execute(command({"GET", key}, key));
    FAIL("no exception");
  } catch (const flashsale::ConnectionError& error) {
    const std::string message = error.what();
    INFO(message);
    CHECK(message.find(std::to_string(cluster.node(2).port())) != std::string::npos);
  }
  cluster.node(2).restart();
  cluster.wait_until_healthy();
  // No persistence in this cluster: the restarted master is empty.
  CHECK_FALSE(client.execute(command({"GET", key}, key)).as_optional_string().has_value());
  client.execute(command({"SET", key, "2"}, key));
  CHECK(admin(cluster, 2, {"GET", key}).as_string() == "2");
}

TEST_CASE("a pipeline of script call views reaches each call's master, in the caller's order",
          "[cluster]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  std::vector<std::string> keys;
  for (std::size_t index = 0; index < cluster.size(); ++index) {
    keys.push_back("fs:test:{" + cluster.tag_on_node(index, "views") + "}:key");
  }
  std::vector<std::string_view> key_views(keys.begin(), keys.end());
  const std::string_view argument = "payload";
  std::vector<flashsale::ScriptCallView> calls;
  for (std::size_t index = 0; index < 3 * keys.size(); ++index) {
    calls.push_back({&flashsale::testing::scripts::echo_call,
                     {&key_views[index % keys.size()], 1},
                     {&argument, 1}});
  }
  const auto replies = client->run_script_pipeline(calls);
  REQUIRE(replies.size() == calls.size());
  for (std::size_t index = 0; index < replies.size(); ++index) {
    const auto& reply = replies[index].as_array();
    REQUIRE(reply.size() == 3);
    CHECK(reply[1].as_string() == keys[index % keys.size()]);
    CHECK(reply[2].as_string() == argument);
  }
  CHECK_THROWS_AS(
      client->run_script_pipeline(std::vector<flashsale::ScriptCallView>{{nullptr, {}, {}}}),
      flashsale::InvalidArgument);
}
