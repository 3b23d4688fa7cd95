// SaleScheduler under load and faults: runner processes SIGKILLed mid-run,
// cancels racing promotions, many threads scheduling the same ids, and a
// server crash with AOF while runners promote.
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/log.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"
#include "scheduler_test_support.hpp"
#include "test_program.hpp"

using namespace std::chrono_literals;
using flashsale::CancelStatus;
using flashsale::EventState;
using flashsale::RescheduleStatus;
using flashsale::SaleScheduler;
using flashsale::SaleSchedulerRunner;
using flashsale::ScheduleStatus;
using flashsale::testing::eventually;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;
using flashsale::testing::scheduler::entries_per_event;
using flashsale::testing::scheduler::event_name;
using flashsale::testing::scheduler::fired_early;
using flashsale::testing::scheduler::fired_events;

namespace {

const std::string kSchedule = "load";

// A client with a generous command timeout: the machine running the tests is
// shared and may be loaded.
std::unique_ptr<flashsale::StandaloneClient> patient_client(const RedisServer& server,
                                                            std::size_t pool_size) {
  auto connection = server.connection_options();
  connection.command_timeout = 10s;
  return std::make_unique<flashsale::StandaloneClient>(connection,
                                                       flashsale::PoolOptions{pool_size, 10s});
}

// Runs `work(thread)` on `threads` threads at once and joins them.
template <typename Work>
void on_threads(int threads, Work work) {
  std::vector<std::thread> pool;
  for (int thread = 0; thread < threads; ++thread) {
    pool.emplace_back([&work, thread] { work(thread); });
  }
  for (auto& thread : pool) {
    thread.join();
  }
}

// Schedules events 0..count-1 from 8 threads, event i due at first_due +
// i * spread / count, and returns first_due: a time after the last call
// returned, whatever this machine's load, so that the runs the tests start
// next see the whole spread ahead of them. The events are first scheduled a
// day ahead, which measures how long a pass takes, then rescheduled.
std::chrono::system_clock::time_point schedule_spread(SaleScheduler& scheduler,
                                                      flashsale::Client& client, int count,
                                                      std::chrono::milliseconds spread) {
  std::atomic<int> refused{0};  // Catch2 assertions are for the main thread only
  const auto pass = [&](auto call) {
    on_threads(8, [&](int thread) {
      for (int event = thread; event < count; event += 8) {
        refused += call(event) ? 0 : 1;
      }
    });
  };
  const auto started = std::chrono::steady_clock::now();
  const auto far = server_now(client) + 24h;
  pass([&](int event) {
    return scheduler.schedule(kSchedule, event_name(event), far, "n=" + std::to_string(event))
               .status == ScheduleStatus::Scheduled;
  });
  const auto first_pass = std::chrono::steady_clock::now() - started;
  const auto first_due = server_now(client) + 500ms +
                         std::chrono::duration_cast<std::chrono::milliseconds>(first_pass * 3 / 2);
  pass([&](int event) {
    return scheduler.reschedule(kSchedule, event_name(event), first_due + spread * event / count)
               .status == RescheduleStatus::Rescheduled;
  });
  REQUIRE(refused == 0);
  return first_due;
}

// A sale_scheduler_worker process; SIGKILLed and reaped by the destructor
// unless the test ended it.
class RunnerProcess {
 public:
  RunnerProcess(int port, const std::string& schedule) {
    pid_ = flashsale::testing::start_test_program(
        "sale_scheduler_worker", {std::to_string(port), schedule, "200", "100", "30"});
  }
  RunnerProcess(const RunnerProcess&) = delete;
  RunnerProcess& operator=(const RunnerProcess&) = delete;
  ~RunnerProcess() {
    if (pid_ > 0) {
      kill();
    }
  }
  void kill() {
    ::kill(pid_, SIGKILL);
    flashsale::testing::wait_for_exit(pid_);
    pid_ = -1;
  }
  // SIGTERM; returns the exit code (128 + signal when a signal ended it).
  int terminate() {
    ::kill(pid_, SIGTERM);
    const int status = flashsale::testing::wait_for_exit(pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE(
    "10000 events due over 8 s, 4 runner processes, 2 SIGKILLed mid-way - every event "
    "promoted exactly once, none before its time by the server clock",
    "[scheduler][stress]") {
  RedisServer server;
  auto client = patient_client(server, 8);
  SaleScheduler scheduler(*client);
  constexpr int kEvents = 10000;
  const auto first_due = schedule_spread(scheduler, *client, kEvents, 8s);
  REQUIRE(scheduler.stats(kSchedule).pending == kEvents);

  std::vector<std::unique_ptr<RunnerProcess>> runners;
  for (int runner = 0; runner < 4; ++runner) {
    runners.push_back(std::make_unique<RunnerProcess>(server.port(), kSchedule));
  }
  // Mid-way by the server clock: about half the events have fired.
  while (server_now(*client) < first_due + 4s) {
    std::this_thread::sleep_for(20ms);
  }
  runners[0]->kill();
  runners[1]->kill();
  const auto at_kill = scheduler.stats(kSchedule);
  CHECK(at_kill.promoted > 0);
  CHECK(at_kill.pending > 0);

  CHECK(eventually([&] { return scheduler.stats(kSchedule).pending == 0; }, 120s));
  CHECK(runners[2]->terminate() == 0);
  CHECK(runners[3]->terminate() == 0);

  const auto fired = fired_events(*client, scheduler, kSchedule);
  const auto per_event = entries_per_event(fired);
  CHECK(fired.size() == kEvents);
  CHECK(per_event.size() == kEvents);
  CHECK(std::all_of(per_event.begin(), per_event.end(),
                    [](const auto& entry) { return entry.second == 1; }));
  CHECK(fired_early(fired) == 0);
  for (const auto& event : fired) {
    if (event.payload != "n=" + event.event_id.substr(6)) {
      FAIL_CHECK("event " << event.event_id << " carries payload " << event.payload);
    }
  }
  const auto stats = scheduler.stats(kSchedule);
  CHECK(stats.promoted == kEvents);
  CHECK(stats.lateness_p99.has_value());
}

TEST_CASE("cancels racing promotions: every event is either promoted or cancelled, never both",
          "[scheduler][stress]") {
  RedisServer server;
  auto client = patient_client(server, 16);
  SaleScheduler scheduler(*client);
  constexpr int kEvents = 4000;
  const auto first_due = schedule_spread(scheduler, *client, kEvents, 2s);

  flashsale::SaleSchedulerRunnerOptions options;
  options.poll_interval = 5ms;
  options.poll_jitter = 2ms;
  options.batch_size = 50;
  std::vector<std::unique_ptr<SaleSchedulerRunner>> runners;
  for (int runner = 0; runner < 4; ++runner) {
    runners.push_back(std::make_unique<SaleSchedulerRunner>(
        scheduler, std::vector<std::string>{kSchedule}, options));
  }
  // Each event is cancelled by two threads at about its due time (+-100 ms,
  // by this machine's clock, which is the server's here).
  std::vector<std::vector<CancelStatus>> outcomes(kEvents);
  std::mutex outcomes_mutex;
  on_threads(8, [&](int thread) {
    std::mt19937 random(static_cast<unsigned>(thread) + 1U);
    std::uniform_int_distribution<int> offset_ms(-100, 100);
    for (int event = thread % 4; event < kEvents; event += 4) {
      const auto at =
          first_due + 2s * event / kEvents + std::chrono::milliseconds(offset_ms(random));
      std::this_thread::sleep_until(at);
      const auto result = scheduler.cancel(kSchedule, event_name(event));
      const std::lock_guard<std::mutex> lock(outcomes_mutex);
      outcomes[static_cast<std::size_t>(event)].push_back(result.status);
    }
  });
  CHECK(eventually([&] { return scheduler.stats(kSchedule).pending == 0; }));
  for (auto& runner : runners) {
    runner->stop();
  }

  const auto per_event = entries_per_event(fired_events(*client, scheduler, kSchedule));
  int cancelled = 0, promoted = 0, inconsistent = 0;
  for (int event = 0; event < kEvents; ++event) {
    const auto& replies = outcomes[static_cast<std::size_t>(event)];
    const auto count = [&](CancelStatus status) {
      return std::count(replies.begin(), replies.end(), status);
    };
    const auto entries = per_event.count(event_name(event)) ? per_event.at(event_name(event)) : 0;
    const auto state = scheduler.find(kSchedule, event_name(event)).state;
    if (count(CancelStatus::Cancelled) == 1 && count(CancelStatus::AlreadyCancelled) == 1 &&
        entries == 0 && state == EventState::Cancelled) {
      ++cancelled;
    } else if (count(CancelStatus::AlreadyPromoted) == 2 && entries == 1 &&
               state == EventState::Promoted) {
      ++promoted;
    } else {
      ++inconsistent;
    }
  }
  CHECK(inconsistent == 0);
  CHECK(cancelled + promoted == kEvents);
  // Both sides won some races (cancels spread around the due times).
  CHECK(cancelled > 0);
  CHECK(promoted > 0);
  const auto stats = scheduler.stats(kSchedule);
  CHECK(stats.cancelled == cancelled);
  CHECK(stats.promoted == promoted);
}

TEST_CASE(
    "schedule, reschedule and cancel of the same ids from 16 threads at once - one winner per "
    "id, every other call answers idempotently",
    "[scheduler][stress]") {
  RedisServer server;
  auto client = patient_client(server, 16);
  SaleScheduler scheduler(*client);
  constexpr int kIds = 500;
  constexpr int kThreads = 16;
  const auto base = server_now(*client) + 1h;
  using Replies = std::vector<std::map<int, int>>;  // per id: status -> count
  const auto tally = [&](auto call) {
    Replies replies(kIds);
    std::mutex mutex;
    on_threads(kThreads, [&](int thread) {
      for (int id = 0; id < kIds; ++id) {
        const int status = call(thread, id);
        const std::lock_guard<std::mutex> lock(mutex);
        ++replies[static_cast<std::size_t>(id)][status];
      }
    });
    return replies;
  };
  const auto all_ids = [&](const Replies& replies, std::map<int, int> expected) {
    return std::all_of(replies.begin(), replies.end(),
                       [&](const auto& counts) { return counts == expected; });
  };

  // The same time and payload from every thread.
  auto replies = tally([&](int, int id) {
    return static_cast<int>(scheduler.schedule(kSchedule, event_name(id), base, "p").status);
  });
  CHECK(all_ids(replies, {{static_cast<int>(ScheduleStatus::Scheduled), 1},
                          {static_cast<int>(ScheduleStatus::AlreadyScheduled), kThreads - 1}}));

  // Different times for fresh ids: one thread's time wins, the rest see it.
  std::vector<std::atomic<long long>> winner_ms(kIds);
  replies = tally([&](int thread, int id) {
    const auto at = base + std::chrono::seconds(thread % 4);
    const auto result = scheduler.schedule(kSchedule, "x-" + std::to_string(id), at, "p");
    if (result.status == ScheduleStatus::Scheduled) {
      winner_ms[static_cast<std::size_t>(id)] = (*result.due_at - base) / 1ms;
    }
    return static_cast<int>(result.status);
  });
  int mixed_ok = 0;
  for (int id = 0; id < kIds; ++id) {
    auto& counts = replies[static_cast<std::size_t>(id)];
    const auto due = scheduler.find(kSchedule, "x-" + std::to_string(id)).due_at;
    mixed_ok += counts[static_cast<int>(ScheduleStatus::Scheduled)] == 1 &&
                        counts[static_cast<int>(ScheduleStatus::AlreadyScheduled)] +
                                counts[static_cast<int>(ScheduleStatus::Conflict)] ==
                            kThreads - 1 &&
                        due && (*due - base) / 1ms == winner_ms[static_cast<std::size_t>(id)]
                    ? 1
                    : 0;
  }
  CHECK(mixed_ok == kIds);

  replies = tally([&](int, int id) {
    return static_cast<int>(scheduler.reschedule(kSchedule, event_name(id), base + 1min).status);
  });
  CHECK(all_ids(replies, {{static_cast<int>(RescheduleStatus::Rescheduled), kThreads}}));
  const auto pending = scheduler.pending(kSchedule, 2 * kIds);
  CHECK(std::count_if(pending.begin(), pending.end(),
                      [&](const auto& event) { return event.due_at == base + 1min; }) == kIds);

  replies = tally([&](int, int id) {
    return static_cast<int>(scheduler.cancel(kSchedule, event_name(id)).status);
  });
  CHECK(all_ids(replies, {{static_cast<int>(CancelStatus::Cancelled), 1},
                          {static_cast<int>(CancelStatus::AlreadyCancelled), kThreads - 1}}));

  // Schedules and cancels of fresh ids at once: an id cancelled once stays
  // cancelled; one that no cancel found stays pending.
  replies = tally([&](int thread, int id) {
    const std::string event = "y-" + std::to_string(id);
    if (thread % 2 == 0) {
      return 100 + static_cast<int>(scheduler.schedule(kSchedule, event, base, "p").status);
    }
    return static_cast<int>(scheduler.cancel(kSchedule, event).status);
  });
  int consistent = 0;
  for (int id = 0; id < kIds; ++id) {
    auto& counts = replies[static_cast<std::size_t>(id)];
    const auto state = scheduler.find(kSchedule, "y-" + std::to_string(id)).state;
    const int cancels = counts[static_cast<int>(CancelStatus::Cancelled)];
    const int scheduled = counts[100 + static_cast<int>(ScheduleStatus::Scheduled)];
    consistent += scheduled == 1 && ((cancels == 1 && state == EventState::Cancelled) ||
                                     (cancels == 0 && state == EventState::Pending))
                      ? 1
                      : 0;
  }
  CHECK(consistent == kIds);

  const auto stats = scheduler.stats(kSchedule);
  CHECK(stats.promoted == 0);
  CHECK(fired_events(*client, scheduler, kSchedule).empty());
  CHECK(stats.pending + static_cast<std::size_t>(stats.cancelled) == 3 * kIds);
}

TEST_CASE("a server crash with AOF while runners promote loses and doubles nothing",
          "[scheduler][stress]") {
  flashsale::testing::RedisServerOptions server_options;
  server_options.config_lines = {"appendonly yes", "appendfsync always"};
  RedisServer server(server_options);
  auto client = patient_client(server, 8);
  SaleScheduler scheduler(*client);
  constexpr int kEvents = 3000;
  const auto first_due = schedule_spread(scheduler, *client, kEvents, 4s);

  flashsale::set_log_sink([](flashsale::LogLevel, std::string_view) {});
  struct RestoreLogSink {
    ~RestoreLogSink() { flashsale::set_log_sink({}); }
  } restore_log_sink;
  flashsale::SaleSchedulerRunnerOptions options;
  options.poll_interval = 20ms;
  options.poll_jitter = 10ms;
  options.batch_size = 100;
  std::vector<std::unique_ptr<SaleSchedulerRunner>> runners;
  for (int runner = 0; runner < 2; ++runner) {
    runners.push_back(std::make_unique<SaleSchedulerRunner>(
        scheduler, std::vector<std::string>{kSchedule}, options));
  }
  while (server_now(*client) < first_due + 2s) {
    std::this_thread::sleep_for(20ms);
  }
  const auto before_crash = scheduler.stats(kSchedule);
  CHECK(before_crash.promoted > 0);
  CHECK(before_crash.pending > 0);
  server.kill();
  server.restart();
  flashsale::testing::wait_until_loaded(server.admin());

  CHECK(eventually([&] { return scheduler.stats(kSchedule).pending == 0; }));
  for (auto& runner : runners) {
    runner->stop();
  }
  const auto fired = fired_events(*client, scheduler, kSchedule);
  const auto per_event = entries_per_event(fired);
  CHECK(fired.size() == kEvents);
  CHECK(per_event.size() == kEvents);
  CHECK(fired_early(fired) == 0);
  CHECK(scheduler.stats(kSchedule).promoted == kEvents);
  const std::string settled = "fs:sched:{load}:settled";
  CHECK(client->execute({{"HLEN", settled}, settled, {}}).as_integer() == kEvents);
}
