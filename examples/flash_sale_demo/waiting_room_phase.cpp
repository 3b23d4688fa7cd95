#include "waiting_room_phase.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace demo {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Visitor {
  std::string id;
  bool joined = false;
  bool done = false;
  Clock::time_point next_poll{};
};

// The most admissions beyond rate x T in any interval T of the sorted times:
// max over i <= j of (j - i + 1) - rate x (t_j - t_i), in one pass.
double most_beyond_rate(const std::vector<std::int64_t>& sorted_ms, double rate) {
  double most = 0;
  double best_start = -1e300;  // max over i of rate x t_i - i
  for (std::size_t j = 0; j < sorted_ms.size(); ++j) {
    const double index = static_cast<double>(j);
    best_start = std::max(best_start, rate * static_cast<double>(sorted_ms[j]) / 1000.0 - index);
    most =
        std::max(most, index + 1 - rate * static_cast<double>(sorted_ms[j]) / 1000.0 + best_start);
  }
  return most;
}

}  // namespace

flashsale::WaitingRoomOptions waiting_room_options(const DemoOptions& options) {
  flashsale::WaitingRoomOptions room;
  room.admission_rate_per_second =
      std::max(1.0, static_cast<double>(options.users) / options.room_seconds);
  room.heartbeat_timeout = 30s;
  room.token_ttl = 5min;
  return room;
}

WaitingRoomOutcome run_waiting_room(flashsale::WaitingRoom& room, const std::string& room_id,
                                    const DemoOptions& options, Progress& progress,
                                    const std::atomic<bool>& interrupted) {
  WaitingRoomOutcome total;
  total.rate_per_second = room.options().admission_rate_per_second;
  total.users = options.users;
  std::mutex merge_mutex;
  std::exception_ptr failure;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < options.threads; ++thread) {
    threads.emplace_back([&, thread] {
      WaitingRoomOutcome mine;
      try {
        std::vector<Visitor> visitors;
        for (int user = thread; user < options.users; user += options.threads) {
          visitors.push_back({fmt::format("user-{}", user)});
        }
        for (std::size_t left = visitors.size(); left > 0 && !interrupted;) {
          for (auto& visitor : visitors) {
            if (visitor.done || Clock::now() < visitor.next_poll) {
              continue;
            }
            try {
              const auto status = visitor.joined ? room.status(room_id, visitor.id)
                                                 : room.join(room_id, visitor.id);
              ++(visitor.joined ? mine.status_calls : mine.joins);
              visitor.joined = status.state != flashsale::VisitorState::NotInRoom;
              if (status.state == flashsale::VisitorState::Admitted) {
                // The shop checks the token before the user may take a coupon.
                ++mine.admitted;
                if (room.verify(room_id, visitor.id, status.token) ==
                    flashsale::VerifyStatus::Valid) {
                  ++mine.verified;
                }
                mine.admitted_at_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  status.admitted_at->time_since_epoch())
                                                  .count());
                mine.tickets.push_back(status.ticket);
                visitor.done = true;
                --left;
                progress.advance();
              } else {
                // A browser asks again after the estimated wait, at most every 500 ms.
                const auto wait = std::min<std::chrono::milliseconds>(
                    status.estimated_wait.value_or(500ms), 500ms);
                visitor.next_poll = Clock::now() + std::max<std::chrono::milliseconds>(wait, 20ms);
              }
            } catch (const flashsale::ConnectionError&) {
              ++mine.transport_errors;  // the same call again on the next pass
            }
          }
          std::this_thread::sleep_for(5ms);
        }
      } catch (...) {
        const std::lock_guard<std::mutex> lock(merge_mutex);
        if (!failure) {
          failure = std::current_exception();
        }
      }
      const std::lock_guard<std::mutex> lock(merge_mutex);
      total.joins += mine.joins;
      total.status_calls += mine.status_calls;
      total.admitted += mine.admitted;
      total.verified += mine.verified;
      total.transport_errors += mine.transport_errors;
      total.admitted_at_ms.insert(total.admitted_at_ms.end(), mine.admitted_at_ms.begin(),
                                  mine.admitted_at_ms.end());
      total.tickets.insert(total.tickets.end(), mine.tickets.begin(), mine.tickets.end());
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
  total.measured_rate_per_second = room.stats(room_id).measured_rate_per_second;
  return total;
}

void check_waiting_room(Report& report, const WaitingRoomOutcome& outcome) {
  report.check("waiting room: every user admitted once with a token that verifies",
               outcome.admitted == outcome.users && outcome.verified == outcome.users,
               fmt::format("{} users, {} admitted, {} tokens verified", outcome.users,
                           outcome.admitted, outcome.verified));
  // Admission in ticket order: sorted by ticket, the admission times never go back.
  std::vector<std::pair<std::uint64_t, std::int64_t>> by_ticket;
  for (std::size_t index = 0; index < outcome.tickets.size(); ++index) {
    by_ticket.emplace_back(outcome.tickets[index], outcome.admitted_at_ms[index]);
  }
  std::sort(by_ticket.begin(), by_ticket.end());
  bool in_order = true;
  for (std::size_t index = 1; index < by_ticket.size(); ++index) {
    in_order = in_order && by_ticket[index - 1].second <= by_ticket[index].second;
  }
  report.check("waiting room: admitted in ticket order", in_order,
               fmt::format("{} admissions", by_ticket.size()));

  std::vector<std::int64_t> times = outcome.admitted_at_ms;
  std::sort(times.begin(), times.end());
  const double burst = std::max(1.0, outcome.rate_per_second);
  const double beyond = most_beyond_rate(times, outcome.rate_per_second);
  const double span_s =
      times.size() < 2 ? 0.0 : static_cast<double>(times.back() - times.front()) / 1000.0;
  report.check(
      "waiting room: admission rate held (any interval T: <= burst + rate x T)",
      beyond <= burst + 1e-6,
      fmt::format(
          "rate {:.0f}/s, burst {:.0f}: busiest interval {:.1f} over rate x T; {} in {:.2f} s "
          "(server clock), measured {:.0f}/s",
          outcome.rate_per_second, burst, beyond, times.size(), span_s,
          outcome.measured_rate_per_second.value_or(0.0)));
}

}  // namespace demo
