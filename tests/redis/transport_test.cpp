// The transport against a real redis-server: scripts, restarts, timeouts,
// authentication.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/log.hpp"
#include "flashsale/preflight.hpp"
#include "flashsale/script.hpp"
#include "flashsale/standalone_client.hpp"
#include "lua/test_scripts.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::Command;
using flashsale::ScriptCall;
using flashsale::StandaloneClient;
using flashsale::testing::RedisServer;
using flashsale::testing::server_time_ms;

namespace {

const flashsale::Script& time_script() {
  return flashsale::testing::scripts::server_time_ms;
}

}  // namespace

TEST_CASE("every embedded script has the SHA1 that SCRIPT LOAD returns", "[transport]") {
  RedisServer server;
  for (const auto& script : flashsale::bundled_scripts()) {
    INFO(std::string(script.name));
    const auto loaded =
        server.admin().execute({{"SCRIPT", "LOAD", std::string(script.source)}, {}, {}});
    CHECK(loaded.as_string() == script.sha1);
  }
}

TEST_CASE("a script call after SCRIPT FLUSH succeeds without surfacing NOSCRIPT", "[transport]") {
  RedisServer server;
  auto client = server.make_client(2);
  const long long before = server_time_ms(*client);
  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  const long long after = server_time_ms(*client);
  CHECK(after >= before);
  const auto exists =
      server.admin().execute({{"SCRIPT", "EXISTS", std::string(time_script().sha1)}, {}, {}});
  CHECK(exists.as_array().at(0).as_integer() == 1);

  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  const std::vector<ScriptCall> calls(5, ScriptCall{&time_script(), {}, {}});
  const auto replies = client->run_script_pipeline(calls);
  REQUIRE(replies.size() == 5);
  for (const auto& reply : replies) {
    CHECK(reply.as_integer() >= after);
  }
}

TEST_CASE("the next call after a server restart reconnects and succeeds", "[transport]") {
  RedisServer server;
  auto client = server.make_client(4);
  client->execute({{"SET", "fs:test:{k}", "1"}, "fs:test:{k}", {}});
  CHECK(server_time_ms(*client) > 0);

  server.restart();
  // The data is gone (no persistence) but the call itself must succeed.
  CHECK_FALSE(client->execute({{"GET", "fs:test:{k}"}, "fs:test:{k}", {}})
                  .as_optional_string()
                  .has_value());
  CHECK(server_time_ms(*client) > 0);  // the script is loaded again, invisibly

  server.kill();
  CHECK_THROWS_AS(client->execute({{"PING"}, {}, {}}), flashsale::ConnectionError);
  server.restart();
  CHECK(client->execute({{"PING"}, {}, {}}).as_string() == "PONG");
}

TEST_CASE("a command that outlasts the command timeout raises TimeoutError", "[transport]") {
  RedisServer server;
  auto options = server.connection_options();
  options.command_timeout = 100ms;
  StandaloneClient client(options);
  CHECK(client.execute({{"PING"}, {}, {}}).as_string() == "PONG");

  std::thread sleeper([&] { server.admin().execute({{"DEBUG", "SLEEP", "0.5"}, {}, {}}); });
  std::this_thread::sleep_for(50ms);
  CHECK_THROWS_AS(client.execute({{"PING"}, {}, {}}), flashsale::TimeoutError);
  sleeper.join();
  // The timed-out connection was discarded: the next call reads its own reply.
  CHECK(client.execute({{"ECHO", "after"}, {}, {}}).as_string() == "after");

  server.admin().execute({{"CLIENT", "PAUSE", "300", "ALL"}, {}, {}});
  std::string message;
  try {
    client.execute({{"PING"}, {}, {}});
  } catch (const flashsale::TimeoutError& error) {
    message = error.what();
  }
  INFO(message);
  CHECK(message.find("timed out after 100 ms") != std::string::npos);
  std::this_thread::sleep_for(350ms);
  CHECK(client.execute({{"ECHO", "resumed"}, {}, {}}).as_string() == "resumed");
}

TEST_CASE("over 1000 calls with interleaved timeouts no call reads another's reply",
          "[transport]") {
  RedisServer server;
  auto options = server.connection_options();
  options.command_timeout = 40ms;
  StandaloneClient client(options, flashsale::PoolOptions{8, std::chrono::seconds(10)});

  std::atomic<bool> done{false};
  std::thread sleeper([&] {
    StandaloneClient admin(server.connection_options());
    while (!done) {
      admin.execute({{"DEBUG", "SLEEP", "0.06"}, {}, {}});
      std::this_thread::sleep_for(20ms);
    }
  });

  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 150;
  std::atomic<int> timeouts{0};
  std::atomic<int> answered{0};
  std::atomic<int> mismatched{0};
  std::vector<std::thread> callers;
  for (int thread = 0; thread < kThreads; ++thread) {
    callers.emplace_back([&, thread] {
      for (int call = 0; call < kCallsPerThread; ++call) {
        const std::string payload = std::to_string(thread) + ":" + std::to_string(call);
        try {
          if (call % 2 == 0) {
            if (client.execute({{"ECHO", payload}, {}, {}}).as_string() != payload) {
              ++mismatched;
            }
          } else {
            const auto replies = client.execute_pipeline(
                {{{"ECHO", payload + "a"}, {}, {}}, {{"ECHO", payload + "b"}, {}, {}}});
            if (replies.at(0).as_string() != payload + "a" ||
                replies.at(1).as_string() != payload + "b") {
              ++mismatched;
            }
          }
          ++answered;
        } catch (const flashsale::TimeoutError&) {
          ++timeouts;
        }
      }
    });
  }
  for (auto& caller : callers) {
    caller.join();
  }
  done = true;
  sleeper.join();
  INFO("timeouts " << timeouts << ", answered " << answered);
  CHECK(mismatched == 0);
  CHECK(timeouts > 0);
  CHECK(answered > 0);
  CHECK(timeouts + answered == kThreads * kCallsPerThread);
}

TEST_CASE("a wrong password gives a clear authentication error", "[transport]") {
  flashsale::testing::RedisServerOptions server_options;
  server_options.config_lines = {"requirepass right-password"};
  server_options.password = "right-password";
  RedisServer server(server_options);
  CHECK(server.admin().execute({{"PING"}, {}, {}}).as_string() == "PONG");

  auto options = server.connection_options();
  options.password = "wrong-password";
  StandaloneClient client(options);
  try {
    client.execute({{"PING"}, {}, {}});
    FAIL("no exception");
  } catch (const flashsale::ReplyError& error) {
    const std::string message = error.what();
    CHECK(error.code() == "WRONGPASS");
    CHECK(message.find("authenticating as 'default'") != std::string::npos);
  }

  options.password.clear();
  StandaloneClient anonymous(options);
  CHECK_THROWS_AS(anonymous.execute({{"PING"}, {}, {}}), flashsale::ReplyError);
}

TEST_CASE("an ACL user limited to fs keys runs the library's commands and scripts", "[transport]") {
  flashsale::testing::RedisServerOptions server_options;
  server_options.config_lines = {
      "user app on >app-password resetkeys ~fs:* resetchannels -@all +@read +@write "
      "+@scripting +@connection +info +time"};
  RedisServer server(server_options);
  auto options = server.connection_options();
  options.user = "app";
  options.password = "app-password";
  StandaloneClient client(options);
  CHECK(client.execute({{"INCR", "fs:test:{acl}:n"}, "fs:test:{acl}:n", {}}).as_integer() == 1);
  CHECK(server_time_ms(client) > 0);
  CHECK(client.server_info().major_version >= 6);
  CHECK_THROWS_AS(client.execute({{"SET", "other:key", "1"}, "other:key", {}}),
                  flashsale::ReplyError);

  options.password = "not-it";
  StandaloneClient wrong(options);
  CHECK_THROWS_AS(wrong.execute({{"PING"}, {}, {}}), flashsale::ReplyError);
}

TEST_CASE("the eviction check warns or refuses unless the policy is noeviction", "[transport]") {
  flashsale::testing::RedisServerOptions server_options;
  server_options.config_lines = {"maxmemory-policy allkeys-lru"};
  RedisServer server(server_options);
  auto client = server.make_client(1);
  CHECK(client->server_info().maxmemory_policy == "allkeys-lru");

  std::vector<std::string> warnings;
  flashsale::set_log_sink(
      [&](flashsale::LogLevel, std::string_view message) { warnings.emplace_back(message); });
  flashsale::check_eviction_policy(*client, flashsale::EvictionPolicyCheck::Warn);
  flashsale::set_log_sink({});
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("allkeys-lru") != std::string::npos);
  CHECK_THROWS_AS(flashsale::check_eviction_policy(*client, flashsale::EvictionPolicyCheck::Refuse),
                  flashsale::ConfigurationError);

  RedisServer safe;
  auto safe_client = safe.make_client(1);
  CHECK_NOTHROW(
      flashsale::check_eviction_policy(*safe_client, flashsale::EvictionPolicyCheck::Refuse));
}

TEST_CASE("a connection refused raises ConnectionError", "[transport]") {
  int port = 0;
  {
    RedisServer server;
    port = server.port();
  }
  flashsale::ConnectionOptions options;
  options.port = port;
  StandaloneClient client(options);
  CHECK_THROWS_AS(client.execute({{"PING"}, {}, {}}), flashsale::ConnectionError);
}

TEST_CASE("commands_processed moves by exactly one per INFO when nothing else is sent",
          "[transport]") {
  RedisServer server;
  const long long first = server.commands_processed();
  CHECK(server.commands_processed() == first + 1);
  server.admin().execute({{"PING"}, {}, {}});
  CHECK(server.commands_processed() == first + 3);
}

TEST_CASE("a pinned connection keeps WATCH and MULTI on one connection", "[transport]") {
  RedisServer server;
  auto client = server.make_client(4);
  const std::string key = "fs:test:{watch}:n";
  client->execute({{"SET", key, "1"}, key, {}});
  {
    auto pinned = client->pin();
    pinned.execute({{"WATCH", key}, key, {}});
    client->execute({{"INCR", key}, key, {}});  // another connection changes the key
    const auto replies = pinned.execute_pipeline(
        {{{"MULTI"}, key, {}}, {{"SET", key, "100"}, key, {}}, {{"EXEC"}, key, {}}});
    CHECK(replies.at(2).is_nil());  // the transaction was aborted
  }
  CHECK(client->execute({{"GET", key}, key, {}}).as_integer() == 2);
}

// The pool checks a connection for a server close only after it sat idle a
// while (a connection that answered a moment ago is handed out without a
// syscall); one the server closed while it sat idle is still replaced.
TEST_CASE("a connection the server closed while it sat idle is replaced before the next call",
          "[transport]") {
  RedisServer server;
  for (const std::size_t shared_connections : {std::size_t{0}, std::size_t{1}}) {
    flashsale::PoolOptions pool;
    pool.size = 1;
    pool.shared_connections = shared_connections;
    StandaloneClient client(server.connection_options(), pool);
    const long long first_id = client.execute({{"CLIENT", "ID"}, {}, {}}).as_integer();
    CHECK(server.admin()
              .execute({{"CLIENT", "KILL", "ID", std::to_string(first_id)}, {}, {}})
              .as_integer() == 1);
    // Idle for longer than the check's threshold (1 ms, see PoolOptions;
    // sleep_for waits at least this long): the next borrow must look.
    std::this_thread::sleep_for(5ms);
    const long long second_id = client.execute({{"CLIENT", "ID"}, {}, {}}).as_integer();
    CHECK(second_id != first_id);
    CHECK(client.execute({{"PING"}, {}, {}}).as_string() == "PONG");
  }
}

TEST_CASE(
    "a script call with views carries its keys and arguments byte for byte, after SCRIPT "
    "FLUSH too, pooled and auto-pipelined",
    "[transport]") {
  RedisServer server;
  const std::string binary("a\0b\r\n", 5);
  const std::vector<std::string_view> arguments = {binary, "", "42"};
  for (const std::size_t shared_connections : {std::size_t{0}, std::size_t{1}}) {
    flashsale::PoolOptions pool;
    pool.size = 2;
    pool.shared_connections = shared_connections;
    StandaloneClient client(server.connection_options(), pool);
    for (int round = 0; round < 2; ++round) {
      server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});  // the first call meets NOSCRIPT
      const std::string key = "fs:test:{echo}:" + std::to_string(round);
      const auto reply = client
                             .run_script(flashsale::testing::scripts::echo_call,
                                         {key, "fs:test:{echo}:b"}, arguments)
                             .as_array();
      REQUIRE(reply.size() == 6);
      CHECK(reply[0].as_integer() == 2);
      CHECK(reply[1].as_string() == key);
      CHECK(reply[2].as_string() == "fs:test:{echo}:b");
      CHECK(reply[3].as_string() == binary);
      CHECK(reply[4].as_string().empty());
      CHECK(reply[5].as_string() == "42");
    }
    // The ScriptCall overload goes the same way.
    const ScriptCall call{&flashsale::testing::scripts::echo_call, {"fs:test:{echo}:c"}, {"x"}};
    CHECK(client.run_script(call).as_array().size() == 3);
    CHECK_THROWS_AS(client.run_script(ScriptCall{nullptr, {}, {}}), flashsale::InvalidArgument);
  }
}

TEST_CASE(
    "a pipeline of script call views keeps each call's bytes and order, after SCRIPT FLUSH "
    "too, pooled and auto-pipelined",
    "[transport]") {
  RedisServer server;
  const std::string binary("a\0b\r\n", 5);
  const std::vector<std::string_view> keys = {"fs:test:{echo}:a", "fs:test:{echo}:b"};
  for (const std::size_t shared_connections : {std::size_t{0}, std::size_t{1}}) {
    flashsale::PoolOptions pool;
    pool.size = 2;
    pool.shared_connections = shared_connections;
    StandaloneClient client(server.connection_options(), pool);
    server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});  // every call meets NOSCRIPT first
    std::vector<std::string> numbers;
    for (int index = 0; index < 40; ++index) {
      numbers.push_back(std::to_string(index));
    }
    std::vector<std::string_view> arguments;
    arguments.reserve(2 * numbers.size());
    std::vector<flashsale::ScriptCallView> calls;
    for (const auto& number : numbers) {
      arguments.push_back(number);
      arguments.push_back(binary);
      calls.push_back({&flashsale::testing::scripts::echo_call,
                       {keys.data(), number.size() == 1 ? 1u : 2u},
                       {arguments.data() + arguments.size() - 2, 2}});
    }
    const auto replies = client.run_script_pipeline(calls);
    REQUIRE(replies.size() == numbers.size());
    for (std::size_t index = 0; index < replies.size(); ++index) {
      const auto& reply = replies[index].as_array();
      const std::size_t key_count = numbers[index].size() == 1 ? 1 : 2;
      REQUIRE(reply.size() == 1 + key_count + 2);
      CHECK(reply[0].as_integer() == static_cast<long long>(key_count));
      CHECK(reply[key_count].as_string() == keys[key_count - 1]);
      CHECK(reply[key_count + 1].as_string() == numbers[index]);
      CHECK(reply[key_count + 2].as_string() == binary);
    }
    CHECK(client.run_script_pipeline(std::vector<flashsale::ScriptCallView>{}).empty());
  }
}

TEST_CASE("a pipeline of script call views with a call without a script sends nothing",
          "[transport]") {
  RedisServer server;
  auto client = server.make_client(1);
  const auto before = server.commands_processed();
  const std::vector<flashsale::ScriptCallView> calls = {
      {&flashsale::testing::scripts::echo_call, {}, {}}, {nullptr, {}, {}}};
  CHECK_THROWS_AS(client->run_script_pipeline(calls), flashsale::InvalidArgument);
  CHECK(server.commands_processed() == before + 1);  // the INFO that read the figure
}

TEST_CASE("every reply shape reads the same through a pooled and a shared connection",
          "[transport]") {
  RedisServer server;
  const std::string big(1 << 20, 'x');
  server.admin().execute({{"SET", "fs:test:big", big}, {}, {}});
  // Nested arrays, nil inside an array (Lua false), an error and a status
  // inside an array, an empty array, an empty string, a negative integer.
  const Command nested{{"EVAL",
                        "return {1, 'two', {3, {'four', false}}, {err='ERR nested'}, {ok='FINE'},"
                        " {}, '', -5}",
                        "0"},
                       {},
                       {}};
  const std::vector<Command> pipeline = {nested,
                                         {{"GET", "fs:test:big"}, {}, {}},
                                         {{"GET", "fs:test:missing"}, {}, {}},
                                         {{"NO-SUCH-COMMAND"}, {}, {}},
                                         {{"PING"}, {}, {}}};
  for (const std::size_t shared : {std::size_t{0}, std::size_t{1}}) {
    INFO("shared connections: " << shared);
    flashsale::PoolOptions pool;
    pool.shared_connections = shared;
    StandaloneClient client(server.connection_options(), pool);
    const auto replies = client.execute_pipeline(pipeline);
    REQUIRE(replies.size() == 5);

    const auto& array = replies[0].as_array();
    REQUIRE(array.size() == 8);
    CHECK(array[0].as_integer() == 1);
    CHECK(array[1].as_string() == "two");
    const auto& inner = array[2].as_array();
    REQUIRE(inner.size() == 2);
    CHECK(inner[0].as_integer() == 3);
    const auto& innermost = inner[1].as_array();
    REQUIRE(innermost.size() == 2);
    CHECK(innermost[0].as_string() == "four");
    CHECK(innermost[1].is_nil());
    CHECK(array[3].is_error());
    CHECK(array[3].error_message() == "ERR nested");
    CHECK(array[4].type() == flashsale::Reply::Type::Status);
    CHECK(array[4].as_string() == "FINE");
    CHECK(array[5].type() == flashsale::Reply::Type::Array);
    CHECK(array[5].as_array().empty());
    CHECK(array[6].type() == flashsale::Reply::Type::String);
    CHECK(array[6].as_string().empty());
    CHECK(array[7].as_integer() == -5);

    CHECK(replies[1].as_string() == big);
    CHECK(replies[2].is_nil());
    CHECK(replies[3].is_error());
    CHECK(replies[3].error_message().rfind("ERR unknown command", 0) == 0);
    CHECK(replies[4].as_string() == "PONG");
    // A single call's error reply is thrown, its message intact.
    CHECK_THROWS_WITH(client.execute({{"NO-SUCH-COMMAND"}, {}, {}}),
                      Catch::Contains("unknown command"));
  }
}
