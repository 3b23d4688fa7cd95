// Helpers shared by the SaleScheduler tests: the schedule's stream read back
// as fired events, and the checks every test makes on it.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "redis_test_helpers.hpp"

namespace flashsale::testing::scheduler {

// Every entry of the schedule's stream, oldest first, as fired events.
inline std::vector<FiredEvent> fired_events(Client& client, const SaleScheduler& scheduler,
                                            const std::string& schedule) {
  const std::string stream = scheduler.stream(schedule);
  std::vector<FiredEvent> events;
  for (auto& entry : read_stream(client, stream)) {
    StreamMessage message;
    message.stream = stream;
    message.id = entry.id;
    for (auto& [name, value] : entry.fields) {
      message.fields.emplace_back(name, value);
    }
    events.push_back(parse_fired_event(message));
  }
  return events;
}

// How many stream entries each event id has.
inline std::map<std::string, int> entries_per_event(const std::vector<FiredEvent>& events) {
  std::map<std::string, int> counts;
  for (const auto& event : events) {
    ++counts[event.event_id];
  }
  return counts;
}

// Events promoted before their due time by the server clock (must be none).
inline int fired_early(const std::vector<FiredEvent>& events) {
  int early = 0;
  for (const auto& event : events) {
    early += event.promoted_at < event.due_at ? 1 : 0;
  }
  return early;
}

inline std::string event_name(int index) {
  return "event-" + std::to_string(index);
}

}  // namespace flashsale::testing::scheduler
