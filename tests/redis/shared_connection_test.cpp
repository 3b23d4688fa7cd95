// Auto-pipelining (PoolOptions::shared_connections) against a real
// redis-server: many threads share few connections and still get exactly
// their own replies; error replies, timeouts, restarts and SCRIPT FLUSH stay
// with the calls they belong to; commands with their own timeout and pin()
// keep using the pool.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/script.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"
#include "shared_connection_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::Command;
using flashsale::Reply;
using flashsale::ScriptCall;
using flashsale::StandaloneClient;
using flashsale::testing::eventually;
using flashsale::testing::RedisServer;
using flashsale::testing::shared_connection::connections_received;
using flashsale::testing::shared_connection::info_figure;
using flashsale::testing::shared_connection::make_shared_client;
using flashsale::testing::shared_connection::on_threads;
using flashsale::testing::shared_connection::ThreadGroup;

namespace {

// How many error replies of that code the server has sent (INFO errorstats).
long long error_replies(RedisServer& server, const std::string& code) {
  return static_cast<long long>(
      flashsale::testing::info_number(server.admin(), "errorstats", "errorstat_" + code + ":count=")
          .value_or(0));
}

std::string key_of(int thread, const std::string& name) {
  return "fs:test:{t" + std::to_string(thread) + "}:" + name;
}

Command command(std::vector<std::string> arguments) {
  std::string routing_key = arguments.size() > 1 ? arguments[1] : std::string();
  return Command{std::move(arguments), std::move(routing_key), {}};
}

// Returns ARGV[1] and the new value of the counter KEYS[1]: a reply only its
// caller can expect.
const std::string kEchoCountSource =
    "local counter = redis.call('INCR', KEYS[1])\n"
    "return {ARGV[1], counter}\n";

// kEchoCountSource as a Script, its SHA1 taken from SCRIPT LOAD (which also
// caches it; tests flush it when they want NOSCRIPT).
struct EchoCountScript {
  explicit EchoCountScript(StandaloneClient& admin)
      : sha1(admin.execute({{"SCRIPT", "LOAD", kEchoCountSource}, {}, {}}).as_string()),
        script{"echo_count", kEchoCountSource, sha1} {}
  const std::string sha1;
  const flashsale::Script script;
};

// True when `reply` is {payload, counter}.
bool is_echo_count(const Reply& reply, const std::string& payload, long long counter) {
  const auto& parts = reply.as_array();
  return parts.size() == 2 && parts[0].as_string() == payload && parts[1].as_integer() == counter;
}

// One round of thread `thread`: a SET/GET/INCR pipeline with a MULTI/EXEC
// block inside, every reply checked against what this thread alone expects.
// `counter` is the thread's counter before the round.
bool own_pipeline_round(flashsale::Client& client, int thread, int round, long long counter) {
  const std::string value_key = key_of(thread, "value");
  const std::string counter_key = key_of(thread, "counter");
  const std::string payload = std::to_string(thread) + ":" + std::to_string(round);
  const auto replies = client.execute_pipeline({
      command({"SET", value_key, payload}),
      command({"GET", value_key}),
      command({"INCR", counter_key}),
      command({"MULTI"}),
      command({"INCRBY", counter_key, "2"}),
      command({"GET", value_key}),
      command({"EXEC"}),
      command({"ECHO", payload}),
  });
  if (replies.size() != 8) {
    return false;
  }
  // Another caller's command between MULTI and EXEC would be queued in this
  // transaction and show up in the EXEC reply.
  const auto& exec = replies[6].as_array();
  return replies[0].as_string() == "OK" && replies[1].as_string() == payload &&
         replies[2].as_integer() == counter + 1 && replies[3].as_string() == "OK" &&
         replies[4].as_string() == "QUEUED" && replies[5].as_string() == "QUEUED" &&
         exec.size() == 2 && exec[0].as_integer() == counter + 3 &&
         exec[1].as_string() == payload && replies[7].as_string() == payload;
}

// 32 threads x 150 rounds over `shared` connections: pipelines (with a
// MULTI/EXEC inside) and single calls, each reply checked; then the totals,
// and that the calls came over exactly `shared` connections.
void check_own_replies_over(std::size_t shared) {
  constexpr int kThreads = 32;
  constexpr int kRounds = 150;
  RedisServer server;
  const long long connections_before = connections_received(server);
  auto client = make_shared_client(server, shared);

  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};
  on_threads(kThreads, [&](int thread) {
    long long counter = 0;
    for (int round = 0; round < kRounds; ++round) {
      try {
        if (round % 3 == 2) {
          const std::string payload =
              "single:" + std::to_string(thread) + ":" + std::to_string(round);
          if (client->execute(command({"ECHO", payload})).as_string() != payload) {
            ++wrong;
          }
          continue;
        }
        if (!own_pipeline_round(*client, thread, round, counter)) {
          ++wrong;
        }
        counter += 3;
      } catch (const flashsale::Error&) {
        ++failed;
      }
    }
  });
  CHECK(wrong == 0);
  CHECK(failed == 0);

  constexpr long long kPipelineRounds = kRounds - kRounds / 3;
  int wrong_totals = 0;
  for (int thread = 0; thread < kThreads; ++thread) {
    const std::string counter_key = key_of(thread, "counter");
    if (server.admin().execute(command({"GET", counter_key})).as_string() !=
        std::to_string(3 * kPipelineRounds)) {
      ++wrong_totals;
    }
  }
  CHECK(wrong_totals == 0);
  // Every call went over the shared connections: the client opened exactly
  // that many, and the server sees no other clients but the admin.
  CHECK(connections_received(server) - connections_before == static_cast<long long>(shared));
  CHECK(info_figure(server.admin(), "clients", "connected_clients") ==
        static_cast<long long>(shared) + 1);
}

}  // namespace

TEST_CASE("32 threads over one shared connection each get exactly their own replies, in order",
          "[shared-connection]") {
  check_own_replies_over(1);
}

TEST_CASE("32 threads over two shared connections each get exactly their own replies, in order",
          "[shared-connection]") {
  check_own_replies_over(2);
}

TEST_CASE("pipelines of megabytes from many callers at once come back complete and in order",
          "[shared-connection]") {
  constexpr int kThreads = 16;
  constexpr int kRounds = 4;
  constexpr int kCommands = 300;
  RedisServer server;
  auto client = make_shared_client(server, 1);
  std::atomic<int> wrong{0};
  on_threads(kThreads, [&](int thread) {
    for (int round = 0; round < kRounds; ++round) {
      // 300 SET/GET pairs of 1 KB values: ~600 KB out and back per call.
      std::vector<Command> commands;
      for (int index = 0; index < kCommands; ++index) {
        const std::string key = key_of(thread, "big:" + std::to_string(index));
        const std::string value =
            std::string(1024, static_cast<char>('a' + index % 26)) + std::to_string(round);
        commands.push_back(command({"SET", key, value}));
        commands.push_back(command({"GET", key}));
      }
      try {
        const auto replies = client->execute_pipeline(commands);
        bool right = replies.size() == commands.size();
        for (std::size_t index = 1; right && index < replies.size(); index += 2) {
          right = replies[index - 1].as_string() == "OK" &&
                  replies[index].as_string() == commands[index - 1].arguments[2];
        }
        wrong += right ? 0 : 1;
      } catch (const flashsale::Error&) {
        ++wrong;
      }
    }
  });
  CHECK(wrong == 0);
}

TEST_CASE("shared connections authenticate and select the database, also after a restart",
          "[shared-connection]") {
  flashsale::testing::RedisServerOptions server_options;
  server_options.config_lines = {"requirepass shared-secret"};
  server_options.password = "shared-secret";
  RedisServer server(server_options);
  auto options = server.connection_options();
  options.db = 3;
  flashsale::PoolOptions pool;
  pool.shared_connections = 2;
  StandaloneClient client(options, pool);
  const std::string key = "fs:test:{db}:n";
  for (int call = 1; call <= 4; ++call) {
    CHECK(client.execute(command({"INCR", key})).as_integer() == call);
  }
  // The admin uses database 0: the key is not there.
  CHECK(server.admin().execute(command({"EXISTS", key})).as_integer() == 0);
  server.restart();
  for (int call = 1; call <= 4; ++call) {
    CHECK(client.execute(command({"INCR", key})).as_integer() == call);
  }
  StandaloneClient pooled_reader(options);  // database 3, no shared connections
  CHECK(pooled_reader.execute(command({"GET", key})).as_string() == "4");
}

// The query buffer (CLIENT LIST qbuf=) of the connection blocked in `command`.
long long query_buffer_of_client_in(StandaloneClient& admin, const std::string& command) {
  const std::string list = admin.execute({{"CLIENT", "LIST"}, {}, {}}).as_string();
  const auto line_start = list.rfind('\n', list.find("cmd=" + command + " "));
  const auto qbuf = list.find(" qbuf=", line_start == std::string::npos ? 0 : line_start);
  return qbuf == std::string::npos ? -1 : std::stoll(list.substr(qbuf + 6));
}

TEST_CASE("a call is written while an earlier caller's reply is still outstanding",
          "[shared-connection]") {
  RedisServer server;
  auto& admin = server.admin();
  auto client = make_shared_client(server, 1, 20s);
  const std::string gate_key = "fs:test:{written}:gate";

  std::string popped;
  ThreadGroup blocked(1, [&](int) {
    popped = client->execute(command({"BLPOP", gate_key, "15"})).as_array().at(1).as_string();
  });
  REQUIRE(eventually([&] { return info_figure(admin, "clients", "blocked_clients") == 1; }));

  // The ECHO reaches the server behind the BLPOP, whose reply is still
  // outstanding: it waits in the blocked connection's query buffer.
  std::string echoed;
  ThreadGroup behind(1, [&](int) {
    echoed = client->execute(command({"ECHO", "behind"})).as_string();
  });
  CHECK(eventually([&] { return query_buffer_of_client_in(admin, "blpop") > 0; }));
  admin.execute(command({"LPUSH", gate_key, "go"}));
  blocked.join();
  behind.join();
  CHECK(popped == "go");
  CHECK(echoed == "behind");
}

TEST_CASE("single calls of concurrent threads reach the server together: fewer reads than commands",
          "[shared-connection]") {
  constexpr int kThreads = 32;
  constexpr int kCalls = 100;
  RedisServer server;
  auto client = make_shared_client(server, 1);
  client->execute(command({"PING"}));  // connected before counting
  const long long reads_before = info_figure(server.admin(), "stats", "total_reads_processed");
  const long long commands_before = server.commands_processed();

  std::atomic<int> wrong{0};
  on_threads(kThreads, [&](int thread) {
    for (int call = 0; call < kCalls; ++call) {
      const std::string payload = std::to_string(thread) + ":" + std::to_string(call);
      if (client->execute(command({"ECHO", payload})).as_string() != payload) {
        ++wrong;
      }
    }
  });
  const long long reads =
      info_figure(server.admin(), "stats", "total_reads_processed") - reads_before;
  const long long commands = server.commands_processed() - commands_before;
  INFO("reads " << reads << ", commands " << commands);
  CHECK(wrong == 0);
  CHECK(commands >= kThreads * kCalls);
  // Each caller has one one-command call out at a time, so a read carrying
  // two commands carried two callers' calls.
  CHECK(reads < commands);
}

TEST_CASE("an error reply reaches only the caller that caused it, and its batch neighbours succeed",
          "[shared-connection]") {
  constexpr int kCallers = 12;
  RedisServer server;
  auto& admin = server.admin();
  const EchoCountScript echo(admin);
  const std::string list_key = "fs:test:{list}:items";
  const std::string gate_key = "fs:test:{gate}:open";
  admin.execute(command({"RPUSH", list_key, "x"}));
  auto client = make_shared_client(server, 1, 20s);

  // A BLPOP without its own timeout holds the one shared connection, so the
  // callers started meanwhile queue up and go out together once it returns.
  ThreadGroup gate(1, [&](int) { client->execute(command({"BLPOP", gate_key, "15"})); });
  REQUIRE(eventually([&] { return info_figure(admin, "clients", "blocked_clients") == 1; }));

  std::atomic<int> started{0};
  std::atomic<int> wrong{0};
  ThreadGroup callers(kCallers, [&](int caller) {
    const std::string own_key = key_of(caller, "own");
    const std::string payload = "caller-" + std::to_string(caller);
    ++started;
    try {
      switch (caller % 4) {
        case 0:  // a single call that fails
          try {
            client->execute(command({"INCR", list_key}));
            ++wrong;
          } catch (const flashsale::ReplyError& error) {
            wrong += error.code() == "WRONGTYPE" ? 0 : 1;
          }
          break;
        case 1: {  // a pipeline with the failing command in the middle
          const auto replies =
              client->execute_pipeline({command({"SET", own_key, payload}),
                                        command({"INCR", list_key}), command({"GET", own_key})});
          const bool right = replies.size() == 3 && replies[0].as_string() == "OK" &&
                             replies[1].is_error() &&
                             replies[1].error_message().rfind("WRONGTYPE", 0) == 0 &&
                             replies[2].as_string() == payload;
          wrong += right ? 0 : 1;
          break;
        }
        case 2:  // a script whose redis.call fails
          try {
            client->run_script(ScriptCall{&echo.script, {list_key}, {payload}});
            ++wrong;
          } catch (const flashsale::ReplyError& error) {
            const std::string message = error.what();
            wrong += message.find("WRONGTYPE") != std::string::npos ? 0 : 1;
          }
          break;
        default: {  // neighbours that must succeed
          wrong += client->execute(command({"INCR", own_key})).as_integer() == 1 ? 0 : 1;
          const auto script_reply =
              client->run_script(ScriptCall{&echo.script, {own_key}, {payload}});
          wrong += is_echo_count(script_reply, payload, 2) ? 0 : 1;
          break;
        }
      }
    } catch (const flashsale::Error&) {
      ++wrong;
    }
  });
  REQUIRE(eventually([&] { return started == kCallers; }));
  // Not asserted: only makes it likely that every caller has queued.
  std::this_thread::sleep_for(100ms);
  admin.execute(command({"LPUSH", gate_key, "go"}));
  gate.join();
  callers.join();
  CHECK(wrong == 0);
  CHECK(admin.execute(command({"LLEN", list_key})).as_integer() == 1);
}

TEST_CASE(
    "a timeout fails the queued calls with TimeoutError, and later calls read their own replies on "
    "a "
    "fresh connection",
    "[shared-connection]") {
  constexpr int kThreads = 8;
  RedisServer server;
  auto client = make_shared_client(server, 1, 200ms);
  for (int thread = 0; thread < kThreads; ++thread) {
    client->execute(command({"SET", key_of(thread, "value"), "before"}));
  }

  // The pause outlasts the 200 ms timeout many times over: the first batch
  // and the one queued behind it (on a new connection) both time out.
  std::atomic<bool> go{false};
  std::atomic<int> timeouts{0};
  std::atomic<int> other_outcomes{0};
  ThreadGroup callers(kThreads, [&](int thread) {
    while (!go) {
      std::this_thread::yield();
    }
    const std::string key = key_of(thread, "value");
    try {
      client->execute_pipeline(
          {command({"SET", key, "during"}), command({"GET", key}), command({"ECHO", "x"})});
      ++other_outcomes;
    } catch (const flashsale::TimeoutError&) {
      ++timeouts;
    } catch (const flashsale::Error&) {
      ++other_outcomes;
    }
  });
  server.admin().execute(command({"CLIENT", "PAUSE", "2000", "ALL"}));
  go = true;
  callers.join();
  CHECK(timeouts == kThreads);
  CHECK(other_outcomes == 0);

  // The admin (10 s command timeout) waits out the pause.
  CHECK(server.admin().execute(command({"PING"})).as_string() == "PONG");
  const long long connections_before = connections_received(server);

  // Whether the timed-out SETs ran is unknown; what matters is that no reply
  // of theirs is read by a later call.
  std::atomic<int> wrong{0};
  on_threads(kThreads, [&](int thread) {
    const std::string key = key_of(thread, "value");
    for (int round = 0; round < 20; ++round) {
      const std::string payload = "after:" + std::to_string(thread) + ":" + std::to_string(round);
      try {
        const auto replies = client->execute_pipeline(
            {command({"ECHO", payload}), command({"SET", key, payload}), command({"GET", key})});
        const bool right = replies.at(0).as_string() == payload &&
                           replies.at(1).as_string() == "OK" &&
                           replies.at(2).as_string() == payload;
        wrong += right ? 0 : 1;
      } catch (const flashsale::Error&) {
        ++wrong;
      }
    }
  });
  CHECK(wrong == 0);
  // The timed-out connection was dropped; exactly one fresh one replaced it.
  CHECK(connections_received(server) - connections_before == 1);
}

TEST_CASE("after a server restart the next calls succeed without the caller retrying",
          "[shared-connection]") {
  RedisServer server;
  auto& admin = server.admin();
  const EchoCountScript echo(admin);
  auto client = make_shared_client(server, 2);
  const std::string key = "fs:test:{restart}:n";
  // Round robin: four calls open and use both shared connections.
  for (int call = 1; call <= 4; ++call) {
    CHECK(client->execute(command({"INCR", key})).as_integer() == call);
  }

  server.restart();
  // Each idle shared connection is found closed before a batch is written.
  for (int call = 1; call <= 4; ++call) {
    CHECK(client->execute(command({"INCR", key})).as_integer() == call);
  }
  const auto replies =
      client->execute_pipeline({command({"INCR", key}), command({"ECHO", "still in step"})});
  CHECK(replies.at(0).as_integer() == 5);
  CHECK(replies.at(1).as_string() == "still in step");
  // The restarted server does not know the script: NOSCRIPT, then EVAL.
  CHECK(is_echo_count(client->run_script(ScriptCall{&echo.script, {key}, {"a"}}), "a", 6));

  server.restart();
  std::atomic<int> wrong{0};
  on_threads(16, [&](int thread) {
    const std::string own = key_of(thread, "after-restart");
    try {
      wrong += client->execute(command({"INCR", own})).as_integer() == 1 ? 0 : 1;
    } catch (const flashsale::Error&) {
      ++wrong;
    }
  });
  CHECK(wrong == 0);

  server.kill();
  CHECK_THROWS_AS(client->execute(command({"PING"})), flashsale::ConnectionError);
  CHECK_THROWS_AS(client->execute(command({"PING"})), flashsale::ConnectionError);
  server.restart();
  CHECK(client->execute(command({"PING"})).as_string() == "PONG");
  CHECK(client->execute(command({"PING"})).as_string() == "PONG");
}

TEST_CASE("an idle shared connection the server killed is replaced before the next batch",
          "[shared-connection]") {
  RedisServer server;
  auto& admin = server.admin();
  auto client = make_shared_client(server, 1);
  const std::string key = "fs:test:{killed}:n";
  CHECK(client->execute(command({"INCR", key})).as_integer() == 1);
  const long long connections_before = connections_received(server);

  admin.execute(command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}));
  CHECK(client->execute(command({"INCR", key})).as_integer() == 2);
  CHECK(connections_received(server) - connections_before == 1);
}

TEST_CASE(
    "a connection lost mid-batch fails every call outstanding on it, and later calls succeed on "
    "one "
    "fresh connection",
    "[shared-connection]") {
  constexpr int kQueued = 8;
  RedisServer server;
  auto& admin = server.admin();
  auto client = make_shared_client(server, 1, 20s);
  const std::string lost_key = "fs:test:{lost}:n";
  const std::string gate_key = "fs:test:{lost}:gate";

  // One caller's batch: an INCR that runs at once, then a BLPOP (no timeout
  // of its own, so on the shared connection) that holds the batch open.
  std::string lost_error;
  ThreadGroup lost(1, [&](int) {
    try {
      client->execute_pipeline({command({"INCR", lost_key}), command({"BLPOP", gate_key, "15"})});
    } catch (const flashsale::ConnectionError& error) {
      lost_error = error.what();
    }
  });
  REQUIRE(eventually([&] { return info_figure(admin, "clients", "blocked_clients") == 1; }));

  // Calls made meanwhile are written behind the BLPOP at once (writing does
  // not wait for replies): their replies are outstanding when the connection
  // goes, so they fail with it, or (not yet written) succeed on the next one.
  std::atomic<int> started{0};
  std::atomic<int> failed{0};
  std::atomic<int> wrong{0};
  ThreadGroup queued(kQueued, [&](int caller) {
    ++started;
    try {
      wrong +=
          client->execute(command({"INCR", key_of(caller, "queued")})).as_integer() == 1 ? 0 : 1;
    } catch (const flashsale::ConnectionError&) {
      ++failed;
    } catch (const flashsale::Error&) {
      ++wrong;
    }
  });
  REQUIRE(eventually([&] { return started == kQueued; }));
  // Not asserted: only makes it likely that every caller has queued.
  std::this_thread::sleep_for(100ms);
  const long long connections_before = connections_received(server);
  admin.execute(command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}));
  lost.join();
  queued.join();
  INFO(lost_error);
  CHECK_FALSE(lost_error.empty());
  CHECK(wrong == 0);
  // The failed call's INCR had run: a transport failure leaves the outcome
  // unknown, which is why it surfaces as an error and is never retried. The
  // queued INCRs were behind the BLPOP, so none of them ran.
  CHECK(admin.execute(command({"GET", lost_key})).as_string() == "1");
  int ran = 0;
  for (int caller = 0; caller < kQueued; ++caller) {
    ran += admin.execute(command({"EXISTS", key_of(caller, "queued")})).as_integer() == 1 ? 1 : 0;
  }
  CHECK(ran == kQueued - failed);

  // The next calls read their own replies; one new connection replaced the
  // lost one, for them and for any queued call that was not written yet.
  on_threads(kQueued, [&](int caller) {
    const std::string payload = "after:" + std::to_string(caller);
    try {
      wrong += client->execute(command({"ECHO", payload})).as_string() == payload ? 0 : 1;
    } catch (const flashsale::Error&) {
      ++wrong;
    }
  });
  CHECK(wrong == 0);
  CHECK(connections_received(server) - connections_before == 1);
}

TEST_CASE("run_script succeeds after SCRIPT FLUSH in shared mode, also while many threads call",
          "[shared-connection]") {
  RedisServer server;
  auto& admin = server.admin();
  const EchoCountScript echo(admin);
  auto client = make_shared_client(server, 2);
  const std::string key = "fs:test:{flush}:n";

  CHECK(is_echo_count(client->run_script(ScriptCall{&echo.script, {key}, {"a"}}), "a", 1));
  admin.execute(command({"SCRIPT", "FLUSH"}));
  const long long noscript_before = error_replies(server, "NOSCRIPT");
  CHECK(is_echo_count(client->run_script(ScriptCall{&echo.script, {key}, {"b"}}), "b", 2));
  CHECK(error_replies(server, "NOSCRIPT") == noscript_before + 1);
  admin.execute(command({"SCRIPT", "FLUSH"}));
  const auto replies = client->run_script_pipeline({ScriptCall{&echo.script, {key}, {"c"}},
                                                    ScriptCall{&echo.script, {key}, {"d"}},
                                                    ScriptCall{&echo.script, {key}, {"e"}}});
  REQUIRE(replies.size() == 3);
  CHECK(is_echo_count(replies[0], "c", 3));
  CHECK(is_echo_count(replies[1], "d", 4));
  CHECK(is_echo_count(replies[2], "e", 5));

  // 16 threads call until 20 flushes have happened; the first EVALSHA after
  // each flush meets NOSCRIPT.
  constexpr int kThreads = 16;
  constexpr int kFlushes = 20;
  const long long noscript_before_race = error_replies(server, "NOSCRIPT");
  std::atomic<int> flushes{0};
  std::atomic<bool> done{false};
  ThreadGroup flusher(1, [&](int) {
    StandaloneClient own_admin(server.connection_options());
    while (!done) {
      own_admin.execute(command({"SCRIPT", "FLUSH"}));
      ++flushes;
      std::this_thread::sleep_for(5ms);
    }
  });
  std::atomic<int> wrong{0};
  std::atomic<int> calls{0};
  std::vector<long long> counts(kThreads, 0);
  on_threads(kThreads, [&](int thread) {
    const std::string own = key_of(thread, "scripted");
    long long& count = counts[thread];
    while (flushes < kFlushes || count < 50) {
      const std::string payload = std::to_string(thread) + ":" + std::to_string(count);
      try {
        const auto reply = client->run_script(ScriptCall{&echo.script, {own}, {payload}});
        wrong += is_echo_count(reply, payload, count + 1) ? 0 : 1;
        ++count;
        ++calls;
      } catch (const flashsale::Error&) {
        ++wrong;
        return;
      }
    }
  });
  done = true;
  flusher.join();
  INFO("calls " << calls << ", flushes " << flushes);
  CHECK(wrong == 0);
  CHECK(error_replies(server, "NOSCRIPT") > noscript_before_race);
  int wrong_totals = 0;
  for (int thread = 0; thread < kThreads; ++thread) {
    const auto stored = admin.execute(command({"GET", key_of(thread, "scripted")})).as_string();
    wrong_totals += stored == std::to_string(counts[thread]) ? 0 : 1;
  }
  CHECK(wrong_totals == 0);
}

TEST_CASE(
    "a BLPOP with its own timeout goes through the pool: shared callers finish while it waits, "
    "then it receives their value",
    "[shared-connection]") {
  constexpr int kThreads = 8;
  RedisServer server;
  auto& admin = server.admin();
  // If the BLPOP went over the one shared connection, the callers below would
  // queue behind it until this timeout failed them all, BLPOP included.
  auto client = make_shared_client(server, 1, 5s);
  const std::string list_key = "fs:test:{blpop}:items";

  std::atomic<bool> popped{false};
  Reply pop_reply;
  std::string pop_error;
  ThreadGroup waiter(1, [&](int) {
    try {
      pop_reply = client->execute(Command{{"BLPOP", list_key, "20"}, list_key, 30s});
    } catch (const flashsale::Error& error) {
      pop_error = error.what();
    }
    popped = true;
  });
  REQUIRE(eventually([&] { return info_figure(admin, "clients", "blocked_clients") == 1; }));

  std::atomic<int> wrong{0};
  on_threads(kThreads, [&](int thread) {
    for (int call = 0; call < 50; ++call) {
      const std::string payload = std::to_string(thread) + ":" + std::to_string(call);
      try {
        const auto replies =
            client->execute_pipeline({command({"SET", key_of(thread, "v"), payload}),
                                      command({"GET", key_of(thread, "v")})});
        wrong += replies.at(1).as_string() == payload ? 0 : 1;
      } catch (const flashsale::Error&) {
        ++wrong;
      }
    }
  });
  CHECK(wrong == 0);
  // Every shared call finished while the BLPOP was still waiting.
  CHECK_FALSE(popped);
  CHECK(info_figure(admin, "clients", "blocked_clients") == 1);

  CHECK(client->execute(command({"LPUSH", list_key, "the-value"})).as_integer() == 1);
  waiter.join();
  REQUIRE(pop_error.empty());
  const auto& popped_pair = pop_reply.as_array();
  REQUIRE(popped_pair.size() == 2);
  CHECK(popped_pair[0].as_string() == list_key);
  CHECK(popped_pair[1].as_string() == "the-value");
}

TEST_CASE("pin() keeps WATCH, MULTI and EXEC on one pooled connection in shared mode",
          "[shared-connection]") {
  RedisServer server;
  auto client = make_shared_client(server, 1, 1000ms, 4);
  const std::string key = "fs:test:{watch}:n";
  client->execute(command({"SET", key, "1"}));
  {
    auto pinned = client->pin();
    pinned.execute(command({"WATCH", key}));
    client->execute(command({"INCR", key}));  // over the shared connection
    const auto replies = pinned.execute_pipeline(
        {command({"MULTI"}), command({"SET", key, "100"}), command({"EXEC"})});
    CHECK(replies.at(2).is_nil());  // the transaction was aborted
  }
  CHECK(client->execute(command({"GET", key})).as_string() == "2");

  // Optimistic increments by 4 pinned threads while 8 others keep the shared
  // connection busy: every committed increment counts exactly once.
  constexpr int kPinnedThreads = 4;
  constexpr int kIncrements = 25;
  const std::string counter = "fs:test:{watch}:counter";
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  ThreadGroup busy(8, [&](int thread) {
    long long expected = 0;
    while (!done) {
      try {
        wrong +=
            client->execute(command({"INCR", key_of(thread, "busy")})).as_integer() == ++expected
                ? 0
                : 1;
      } catch (const flashsale::Error&) {
        ++wrong;
      }
    }
  });
  std::atomic<int> aborted{0};
  on_threads(kPinnedThreads, [&](int) {
    for (int committed = 0; committed < kIncrements;) {
      try {
        auto pinned = client->pin();
        pinned.execute(command({"WATCH", counter}));
        const auto current = pinned.execute(command({"GET", counter})).as_optional_string();
        const long long value = current ? std::stoll(*current) : 0;
        const auto replies = pinned.execute_pipeline(
            {command({"MULTI"}), command({"SET", counter, std::to_string(value + 1)}),
             command({"EXEC"})});
        if (replies.at(2).is_nil()) {
          ++aborted;
        } else {
          ++committed;
        }
      } catch (const flashsale::Error&) {
        ++wrong;
        return;
      }
    }
  });
  done = true;
  busy.join();
  INFO("aborted transactions " << aborted);
  CHECK(wrong == 0);
  CHECK(client->execute(command({"GET", counter})).as_string() ==
        std::to_string(kPinnedThreads * kIncrements));
}
