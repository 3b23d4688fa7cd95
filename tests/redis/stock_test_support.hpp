// Helpers shared by the StockReserver tests: the server clock, the events
// stream, snapshots compared, and a whole-database dump to prove "unchanged".
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/time_conversion.hpp"
#include "flashsale/client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_test_helpers.hpp"

namespace flashsale::testing::stock {

using testing::eventually;
using testing::server_time_ms;

// Sleeps until the Redis server's clock is past `at` (expiry is judged there).
inline void wait_for_server_time_past(Client& client, std::chrono::system_clock::time_point at) {
  while (server_time_ms(client) <= detail::to_epoch_ms(at)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

inline long long stream_length(Client& client, const std::string& stream) {
  return client.execute({{"XLEN", stream}, stream, {}}).as_integer();
}

struct StockEvent {
  std::string type;
  std::string hold_id;
  std::string items;
};

// The whole stream, oldest first.
inline std::vector<StockEvent> read_events(Client& client, const std::string& stream) {
  std::vector<StockEvent> events;
  for (auto& entry : read_stream(client, stream)) {
    events.push_back(StockEvent{std::move(entry.fields["type"]), std::move(entry.fields["hold_id"]),
                                std::move(entry.fields["items"])});
  }
  return events;
}

// Events of `type` for `hold_id` (any hold when empty).
inline long long count_events(Client& client, const std::string& stream, const std::string& type,
                              const std::string& hold_id) {
  const auto events = read_events(client, stream);
  return std::count_if(events.begin(), events.end(), [&](const StockEvent& event) {
    return event.type == type && (hold_id.empty() || event.hold_id == hold_id);
  });
}

// The figures of `sku`; empty figures (sku "") when the snapshot has none.
inline SkuFigures figures_of(const StockSnapshot& snapshot, const std::string& sku) {
  for (const auto& figures : snapshot.skus) {
    if (figures.sku == sku) {
      return figures;
    }
  }
  return {};
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
