// The waiting room at full size: 100,000 visitors joining from 32 threads
// (with retries, some over connections that time out), admission by rate and
// cap while 32 threads poll, complete, abandon and let tokens expire, and a
// server killed with SIGKILL mid-rush (AOF, fsync always).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/waiting_room.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::VisitorState;
using flashsale::VisitorStatus;
using flashsale::WaitingRoom;
using flashsale::WaitingRoomOptions;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;
using flashsale::testing::server_time_ms;
using flashsale::testing::wait_until_loaded;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kRoom = "rush";

std::string visitor_name(std::size_t visitor) {
  return "visitor-" + std::to_string(visitor);
}

// Runs `work(thread)` on `threads` threads; the first exception is rethrown
// after all have ended.
template <typename Work>
void on_threads(int threads, Work work) {
  std::mutex failure_mutex;
  std::exception_ptr failure;
  std::vector<std::thread> pool;
  for (int thread = 0; thread < threads; ++thread) {
    pool.emplace_back([&, thread] {
      try {
        work(thread);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) {
          failure = std::current_exception();
        }
      }
    });
  }
  for (auto& thread : pool) {
    thread.join();
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
}

// One visitor's joins: the first attempt's send, the first success's reply.
struct Arrival {
  Clock::time_point sent{};
  Clock::time_point replied{};
  std::uint64_t ticket = 0;
  int new_tickets = 0;  // replies with new_ticket
  int joins = 0;        // successful join replies
  bool ticket_changed = false;
};

// Checks that whenever one visitor's join reply came before another's first
// join was sent, the first has the lower ticket (arrival order across threads).
std::size_t arrival_order_violations(const std::vector<Arrival>& arrivals) {
  std::vector<const Arrival*> by_reply;
  std::vector<const Arrival*> by_send;
  for (const auto& arrival : arrivals) {
    by_reply.push_back(&arrival);
    by_send.push_back(&arrival);
  }
  std::sort(by_reply.begin(), by_reply.end(),
            [](const Arrival* a, const Arrival* b) { return a->replied < b->replied; });
  std::sort(by_send.begin(), by_send.end(),
            [](const Arrival* a, const Arrival* b) { return a->sent < b->sent; });
  std::size_t violations = 0;
  std::size_t replied = 0;
  std::uint64_t highest_earlier_ticket = 0;
  for (const Arrival* arrival : by_send) {
    while (replied < by_reply.size() && by_reply[replied]->replied < arrival->sent) {
      highest_earlier_ticket = std::max(highest_earlier_ticket, by_reply[replied]->ticket);
      ++replied;
    }
    violations += highest_earlier_ticket >= arrival->ticket ? 1 : 0;
  }
  return violations;
}

}  // namespace

TEST_CASE(
    "100,000 joins from 32 threads: tickets unique and in arrival order, each visitor once "
    "however often they retry",
    "[room][stress]") {
  constexpr int kThreads = 32;
  constexpr std::size_t kVisitors = 100'000;
  RedisServer server;
  auto client = server.make_client(kThreads);
  // Four threads join over connections with a 5 ms timeout: some of their
  // joins reach Redis and lose the reply, and they join again.
  auto impatient_options = server.connection_options();
  impatient_options.command_timeout = 5ms;
  flashsale::StandaloneClient impatient(impatient_options, flashsale::PoolOptions{4, 10s});
  WaitingRoomOptions options;
  options.admission_opens_at = server_now(*client) + 1h;  // nobody is let in: positions stay
  options.heartbeat_timeout = 0ms;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  WaitingRoom room(*client, options);
  WaitingRoom impatient_room(impatient, options);

  std::vector<Arrival> arrivals(kVisitors);
  std::atomic<long long> timeouts{0};
  const auto record = [](Arrival& arrival, const VisitorStatus& status) {
    if (arrival.joins == 0) {
      arrival.replied = Clock::now();
      arrival.ticket = status.ticket;
    }
    arrival.ticket_changed = arrival.ticket_changed || arrival.ticket != status.ticket ||
                             status.state != VisitorState::Waiting;
    arrival.new_tickets += status.new_ticket ? 1 : 0;
    ++arrival.joins;
  };
  on_threads(kThreads, [&](int thread) {
    const bool patient = thread % 8 != 0;
    for (std::size_t visitor = static_cast<std::size_t>(thread); visitor < kVisitors;
         visitor += kThreads) {
      Arrival& arrival = arrivals[visitor];
      arrival.sent = Clock::now();
      const std::string name = visitor_name(visitor);
      if (!patient) {
        // Retries over the impatient connections, then the patient ones.
        bool joined = false;
        for (int attempt = 0; attempt < 5 && !joined; ++attempt) {
          try {
            record(arrival, impatient_room.join(kRoom, name));
            joined = true;
          } catch (const flashsale::ConnectionError&) {
            ++timeouts;
          }
        }
        if (!joined) {
          record(arrival, room.join(kRoom, name));
        }
      } else {
        record(arrival, room.join(kRoom, name));
      }
      if (visitor % 4 == 0) {  // a double click
        record(arrival, room.join(kRoom, name));
      }
    }
    // A reload: every tenth visitor joins again later.
    for (std::size_t visitor = static_cast<std::size_t>(thread); visitor < kVisitors;
         visitor += kThreads * 10) {
      record(arrivals[visitor], room.join(kRoom, visitor_name(visitor)));
    }
  });

  std::set<std::uint64_t> tickets;
  std::size_t changed = 0;
  std::size_t patient_without_exactly_one_new = 0;
  std::size_t more_than_one_new = 0;
  for (std::size_t visitor = 0; visitor < kVisitors; ++visitor) {
    const auto& arrival = arrivals[visitor];
    tickets.insert(arrival.ticket);
    changed += arrival.ticket_changed ? 1 : 0;
    more_than_one_new += arrival.new_tickets > 1 ? 1 : 0;
    const bool patient = (visitor % kThreads) % 8 != 0;
    patient_without_exactly_one_new += patient && arrival.new_tickets != 1 ? 1 : 0;
  }
  INFO(timeouts.load() << " joins timed out and were retried");
  CHECK(tickets.size() == kVisitors);
  CHECK(*tickets.begin() == 1);
  CHECK(*tickets.rbegin() == kVisitors);
  CHECK(changed == 0);
  CHECK(more_than_one_new == 0);
  CHECK(patient_without_exactly_one_new == 0);
  CHECK(arrival_order_violations(arrivals) == 0);

  const auto stats = room.stats(kRoom);
  CHECK(stats.tickets == kVisitors);  // no join drew a second ticket, retries included
  CHECK(stats.waiting == kVisitors);
  CHECK(stats.admitted_total == 0);

  // Positions: the visitors ahead are exactly the lower tickets.
  std::atomic<std::size_t> wrong_positions{0};
  on_threads(kThreads, [&](int thread) {
    for (std::size_t visitor = static_cast<std::size_t>(thread) * 7; visitor < kVisitors;
         visitor += kThreads * 7) {
      const VisitorStatus status = room.status(kRoom, visitor_name(visitor));
      if (status.state != VisitorState::Waiting ||
          status.position + 1 != arrivals[visitor].ticket) {
        ++wrong_positions;
      }
    }
  });
  CHECK(wrong_positions == 0);
}

TEST_CASE(
    "under 32 polling threads admission never exceeds the rate nor the cap while visitors "
    "complete, abandon and let tokens expire",
    "[room][stress]") {
  constexpr int kThreads = 32;
  constexpr std::size_t kVisitors = 640;
  constexpr double kRate = 200;
  constexpr std::size_t kCap = 40;
  RedisServer server;
  auto client = server.make_client(kThreads + 2);
  WaitingRoomOptions options;
  options.admission_rate_per_second = kRate;
  options.max_active = kCap;
  options.token_ttl = 1s;
  options.heartbeat_timeout = 2s;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  WaitingRoom room(*client, options);

  // Visitor % 10: 0 never asks after joining (abandons unless let in at
  // once), 1 is let in and never completes (its token expires), the rest
  // complete 50 ms after being let in.
  std::vector<VisitorStatus> admissions(kVisitors);
  std::atomic<bool> rush_over{false};
  std::atomic<std::size_t> samples{0};
  std::atomic<std::size_t> above_cap{0};
  std::atomic<std::size_t> bad_tokens{0};
  std::thread sampler([&] {
    while (!rush_over) {
      // Counts admissions whose expiry no call has swept yet: an upper bound.
      above_cap += room.stats(kRoom).active > kCap ? 1 : 0;
      ++samples;
      std::this_thread::sleep_for(2ms);
    }
  });
  const long long start_ms = server_time_ms(*client);
  try {
    on_threads(kThreads, [&](int thread) {
      std::vector<std::size_t> mine;
      for (std::size_t visitor = static_cast<std::size_t>(thread); visitor < kVisitors;
           visitor += kThreads) {
        mine.push_back(visitor);
        admissions[visitor] = room.join(kRoom, visitor_name(visitor));
      }
      std::vector<Clock::time_point> complete_at(kVisitors);
      std::vector<bool> done(kVisitors, false);
      const auto give_up = Clock::now() + 120s;
      for (bool all_done = false; !all_done && Clock::now() < give_up;) {
        all_done = true;
        for (const std::size_t visitor : mine) {
          if (done[visitor] || visitor % 10 == 0) {
            continue;
          }
          all_done = false;
          auto& status = admissions[visitor];
          const std::string name = visitor_name(visitor);
          if (status.state != VisitorState::Admitted) {
            status = room.status(kRoom, name);
            if (status.state == VisitorState::NotInRoom) {
              status = room.join(kRoom, name);  // missed a heartbeat on a slow machine
            }
            if (status.state == VisitorState::Admitted) {
              bad_tokens +=
                  room.verify(kRoom, name, status.token) == flashsale::VerifyStatus::Valid ? 0 : 1;
              complete_at[visitor] = Clock::now() + 50ms;
            }
          } else if (visitor % 10 == 1) {
            done[visitor] = true;  // lets the token expire
          } else if (Clock::now() >= complete_at[visitor]) {
            room.complete(kRoom, name);
            done[visitor] = true;
          }
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  } catch (...) {
    rush_over = true;
    sampler.join();
    throw;
  }
  const long long end_ms = server_time_ms(*client);
  rush_over = true;
  sampler.join();

  CHECK(samples > 0);
  CHECK(above_cap == 0);
  CHECK(bad_tokens == 0);
  // Every admission the visitors saw, by the server clock: at most burst +
  // rate x span in any interval.
  std::vector<long long> times;
  for (const auto& status : admissions) {
    if (status.admitted_at) {
      times.push_back(flashsale::detail::to_epoch_ms(*status.admitted_at));
    }
  }
  std::sort(times.begin(), times.end());
  const double burst = std::max(1.0, kRate);
  std::size_t rate_violations = 0;
  for (std::size_t first = 0; first < times.size(); ++first) {
    for (std::size_t last = first; last < times.size(); ++last) {
      const double span_s = static_cast<double>(times[last] - times[first]) / 1000.0;
      rate_violations +=
          static_cast<double>(last - first + 1) > burst + kRate * span_s + 1e-9 ? 1 : 0;
    }
  }
  CHECK(rate_violations == 0);
  const auto stats = room.stats(kRoom);
  INFO("admitted " << stats.admitted_total << ", abandoned " << stats.abandoned_total
                   << ", expired " << stats.expired_total << ", completed " << stats.completed_total
                   << " over " << (end_ms - start_ms) << " ms");
  // All admissions, also those of visitors who never asked again.
  CHECK(static_cast<double>(stats.admitted_total) <=
        burst + kRate * static_cast<double>(end_ms - start_ms) / 1000.0);
  CHECK(stats.admitted_total >= times.size());
  // Every visitor who kept asking was let in; each completes at most once.
  std::size_t askers_not_admitted = 0;
  for (std::size_t visitor = 0; visitor < kVisitors; ++visitor) {
    askers_not_admitted += visitor % 10 != 0 && !admissions[visitor].admitted_at ? 1 : 0;
  }
  CHECK(askers_not_admitted == 0);
  CHECK(stats.completed_total <= kVisitors * 8 / 10);
  CHECK(stats.completed_total + stats.expired_total + stats.active >= stats.admitted_total);
}

TEST_CASE("a server killed mid-rush with AOF (fsync always) keeps every acknowledged place",
          "[room][stress][restart]") {
  constexpr int kThreads = 16;
  constexpr std::size_t kVisitors = 20'000;
  flashsale::testing::RedisServerOptions server_options;
  server_options.config_lines = {"appendonly yes", "appendfsync always"};
  RedisServer server(server_options);
  auto connection = server.connection_options();
  connection.command_timeout = 2s;
  flashsale::StandaloneClient client(connection, flashsale::PoolOptions{kThreads, 10s});
  WaitingRoomOptions options;
  options.admission_opens_at = server_now(client) + 1h;
  options.heartbeat_timeout = 0ms;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  WaitingRoom room(client, options);

  std::vector<std::uint64_t> acknowledged(kVisitors, 0);
  std::atomic<std::size_t> joined{0};
  std::atomic<std::size_t> failed_calls{0};
  // The joins run on their own threads; the main thread kills and restarts
  // the server (it must: the server dies with the thread that started it).
  std::exception_ptr rush_failure;
  std::atomic<bool> rush_ended{false};
  std::thread rush([&] {
    try {
      on_threads(kThreads, [&](int thread) {
        for (std::size_t visitor = static_cast<std::size_t>(thread); visitor < kVisitors;
             visitor += kThreads) {
          for (int attempt = 0; acknowledged[visitor] == 0; ++attempt) {
            try {
              acknowledged[visitor] = room.join(kRoom, visitor_name(visitor)).ticket;
              ++joined;
            } catch (const flashsale::Error& error) {
              ++failed_calls;  // refused, reset or still loading: the same join again
              if (attempt == 2000) {
                throw std::runtime_error(std::string("a join kept failing: ") + error.what());
              }
              std::this_thread::sleep_for(5ms);
            }
          }
        }
      });
    } catch (...) {
      rush_failure = std::current_exception();
    }
    rush_ended = true;
  });
  while (joined < kVisitors / 2 && !rush_ended) {
    std::this_thread::sleep_for(1ms);
  }
  server.kill();
  server.restart();
  rush.join();
  if (rush_failure) {
    std::rethrow_exception(rush_failure);
  }
  wait_until_loaded(server.admin());
  INFO(failed_calls.load() << " calls failed around the kill");
  std::set<std::uint64_t> tickets(acknowledged.begin(), acknowledged.end());
  CHECK(tickets.size() == kVisitors);
  CHECK(room.stats(kRoom).tickets == kVisitors);
  std::atomic<std::size_t> moved{0};
  on_threads(kThreads, [&](int thread) {
    for (std::size_t visitor = static_cast<std::size_t>(thread); visitor < kVisitors;
         visitor += kThreads * 5) {
      const VisitorStatus status = room.status(kRoom, visitor_name(visitor));
      moved +=
          status.ticket == acknowledged[visitor] && status.position + 1 == status.ticket ? 0 : 1;
    }
  });
  CHECK(moved == 0);
}
