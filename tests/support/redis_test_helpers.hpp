// Helpers shared by the tests that run against a real Redis: the server's
// clock, waiting for a condition or for a restarted server's data, and
// reading a stream back, adding entries and counting pending ones.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/error.hpp"
#include "flashsale/script.hpp"
#include "lua/test_scripts.hpp"

namespace flashsale::testing {

// Milliseconds since the Unix epoch by the Redis server clock, the clock the
// scripts judge windows and deadlines by.
inline long long server_time_ms(Client& client) {
  return client.run_script(ScriptCall{&scripts::server_time_ms, {}, {}}).as_integer();
}

inline std::chrono::system_clock::time_point server_now(Client& client) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(server_time_ms(client)));
}

// Polls `condition` until it holds or a generous limit passes (the machine is
// shared and slow at times); returns whether it held.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Returns once the server answers commands: RedisServer::restart() returns
// when it answers at all, and with AOF it first answers -LOADING while it
// reads the file back. Throws std::runtime_error when it still loads after
// 5 s; other errors propagate.
inline void wait_until_loaded(Client& admin) {
  for (int attempt = 0; attempt < 500; ++attempt) {
    try {
      admin.execute({{"PING"}, {}, {}});
      return;
    } catch (const ReplyError& error) {
      if (error.code() != "LOADING") {
        throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  throw std::runtime_error("redis-server still loading its data after 5 s");
}

struct StreamEntry {
  std::string id;                             // e.g. "1700000000000-0"
  std::map<std::string, std::string> fields;  // field -> value
};

// Every entry of `stream`, oldest first (read in pages of 1000).
inline std::vector<StreamEntry> read_stream(Client& client, const std::string& stream) {
  constexpr std::size_t kPage = 1000;
  std::vector<StreamEntry> entries;
  std::string start = "-";
  while (true) {
    const Reply reply = client.execute(
        {{"XRANGE", stream, start, "+", "COUNT", std::to_string(kPage)}, stream, {}});
    const auto& page = reply.as_array();
    for (const auto& item : page) {
      const auto& parts = item.as_array();
      StreamEntry entry;
      entry.id = parts.at(0).as_string();
      const auto& fields = parts.at(1).as_array();
      for (std::size_t field = 0; field + 1 < fields.size(); field += 2) {
        entry.fields[fields[field].as_string()] = fields[field + 1].as_string();
      }
      entries.push_back(std::move(entry));
    }
    if (page.size() < kPage) {
      return entries;
    }
    start = "(" + entries.back().id;
  }
}

// Appends `count` entries {field: i} to `stream` in one pipeline; their ids.
inline std::vector<std::string> add_entries(Client& client, const std::string& stream, int count,
                                            const std::string& field = "n") {
  std::vector<Command> commands;
  for (int i = 0; i < count; ++i) {
    commands.push_back({{"XADD", stream, "*", field, std::to_string(i)}, stream, {}});
  }
  std::vector<std::string> ids;
  for (const auto& reply : client.execute_pipeline(commands)) {
    ids.push_back(reply.as_string());
  }
  return ids;
}

// Entries of `stream` delivered to `group` and not yet acknowledged.
inline long long pending_count(Client& client, const std::string& stream,
                               const std::string& group) {
  return client.execute({{"XPENDING", stream, group}, stream, {}}).as_array().at(0).as_integer();
}

}  // namespace flashsale::testing
