// The waiting room in front of the coupon rush: every user joins, polls like
// a browser would (again after the estimated wait, at most every 500 ms),
// and, once admitted, shows the token the shop verifies before letting them
// on to the coupon. The room admits users / room_seconds per second.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "demo_options.hpp"
#include "flashsale/waiting_room.hpp"
#include "progress.hpp"
#include "report.hpp"

namespace demo {

struct WaitingRoomOutcome {
  double rate_per_second = 0;  // configured
  std::int64_t users = 0;
  std::int64_t joins = 0;
  std::int64_t status_calls = 0;
  std::int64_t admitted = 0;  // users who saw themselves admitted
  std::int64_t verified = 0;  // tokens verify() accepted
  std::int64_t transport_errors = 0;
  std::vector<std::int64_t> admitted_at_ms;  // server clock, one per admitted user
  std::vector<std::uint64_t> tickets;        // in the same order
  std::optional<double> measured_rate_per_second;
};

// The options the demo's room uses: admission at users / room_seconds per second.
flashsale::WaitingRoomOptions waiting_room_options(const DemoOptions& options);

WaitingRoomOutcome run_waiting_room(flashsale::WaitingRoom& room, const std::string& room_id,
                                    const DemoOptions& options, Progress& progress,
                                    const std::atomic<bool>& interrupted);

// The room's invariants: everyone admitted once, in ticket order, with a
// token that verifies; at most burst + rate x T admissions in any interval T.
void check_waiting_room(Report& report, const WaitingRoomOutcome& outcome);

}  // namespace demo
