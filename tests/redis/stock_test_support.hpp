// Helpers shared by the StockReserver tests: the server clock, the events
// stream, snapshots compared, and a whole-database dump to prove "unchanged".
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/script.hpp"
#include "flashsale/stock_reserver.hpp"

namespace flashsale::testing::stock {

inline long long server_time_ms(Client& client) {
  return client.run_script(ScriptCall{&bundled_script("server_time_ms"), {}, {}}).as_integer();
}

inline long long to_ms(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

// Sleeps until the Redis server's clock is past `at` (expiry is judged there).
inline void wait_for_server_time_past(Client& client, std::chrono::system_clock::time_point at) {
  while (server_time_ms(client) <= to_ms(at)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Polls `condition` until it holds or a generous limit passes (the machine is
// shared and slow at times); returns whether it held.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline long long stream_length(Client& client, const std::string& stream) {
  return client.execute({{"XLEN", stream}, stream, {}}).as_integer();
}

struct StockEvent {
  std::string type;
  std::string hold_id;
  std::string items;
};

// The whole stream, oldest first, read in pages.
inline std::vector<StockEvent> read_events(Client& client, const std::string& stream) {
  std::vector<StockEvent> events;
  std::string start = "-";
  while (true) {
    const Reply page =
        client.execute({{"XRANGE", stream, start, "+", "COUNT", "10000"}, stream, {}});
    const auto& entries = page.as_array();
    if (entries.empty()) {
      return events;
    }
    for (const auto& entry : entries) {
      const auto& fields = entry.as_array().at(1).as_array();
      StockEvent event;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        const std::string& name = fields[i].as_string();
        if (name == "type") {
          event.type = fields[i + 1].as_string();
        } else if (name == "hold_id") {
          event.hold_id = fields[i + 1].as_string();
        } else if (name == "items") {
          event.items = fields[i + 1].as_string();
        }
      }
      events.push_back(std::move(event));
    }
    start = "(" + entries.back().as_array().at(0).as_string();
  }
}

// Events of `type` for `hold_id` (any hold when empty).
inline long long count_events(Client& client, const std::string& stream, const std::string& type,
                              const std::string& hold_id) {
  const auto events = read_events(client, stream);
  return std::count_if(events.begin(), events.end(), [&](const StockEvent& event) {
    return event.type == type && (hold_id.empty() || event.hold_id == hold_id);
  });
}

inline bool same_figures(const StockSnapshot& a, const StockSnapshot& b) {
  if (a.state != b.state || a.active_holds != b.active_holds || a.skus.size() != b.skus.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.skus.size(); ++i) {
    const auto& x = a.skus[i];
    const auto& y = b.skus[i];
    if (x.sku != y.sku || x.initial != y.initial || x.available != y.available ||
        x.held != y.held || x.confirmed != y.confirmed) {
      return false;
    }
  }
  return true;
}

// Every key with its DUMP, sorted: equal dumps mean an unchanged database.
inline std::string dump_database(Client& admin) {
  std::vector<std::string> keys;
  const Reply listed = admin.execute({{"KEYS", "*"}, {}, {}});
  for (const auto& key : listed.as_array()) {
    keys.push_back(key.as_string());
  }
  std::sort(keys.begin(), keys.end());
  std::string dump;
  for (const auto& key : keys) {
    dump += key + "=" + admin.execute({{"DUMP", key}, key, {}}).as_string() + "\n";
  }
  return dump;
}

}  // namespace flashsale::testing::stock
