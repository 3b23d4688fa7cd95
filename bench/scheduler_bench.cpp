// SaleScheduler: lateness with 1, 4 and 16 runners, promotion throughput per
// call, and the server time of one promotion call at the batch limit.
//
//   scheduler_bench [--smoke] [--events N] [--spread-s S] [--poll-ms P]
//
// 1. Lateness. For 1, 4 and 16 SaleSchedulerRunners (threads of this process,
//    one shared pool, poll interval P ms, default 100, jitter P/5, default batch 100)
//    N events (default 100000) are scheduled from 16 threads, due evenly over
//    S seconds (default 60) starting after the scheduling is done. When the
//    last has fired, the schedule's own stats give lateness p50/p99/max (by
//    the server clock: promotion time - due time). The reference is the poll
//    interval: one runner should show a p50 near P/2 and a max near P + jitter
//    + one call; R runners about P/(R+1).
// 2. Throughput per call. 20 x 1000 events due in the past are promoted by
//    back-to-back promote_due(1000) calls from one thread (events/s, calls/s).
//    Ceiling, same run: the same number of stream entries with the same fields
//    written by plain XADD in pipelines of 1000 on one connection. The ratio
//    shows what the claim (ZRANGEBYSCORE, ZREM, HDEL, HSET settled, stats)
//    costs on top of the stream write.
// 3. Server time. bench::ScriptTimer reads from the slowlog how long one
//    promote_due_events call blocks Redis at the default batch limit (1000)
//    and at the hard limit (10000): wall time, which a loaded machine
//    inflates. Beside it, the CPU the server's main thread spent per call
//    (INFO cpu before and after; includes logging every inner command to the
//    slowlog, which the timer turns on, and the two INFO calls).
// --smoke runs tiny sizes. Nothing is asserted; the machine may be shared, so
// compare ratios within one run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/script.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "script_timer.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using flashsale::SaleScheduler;

struct Settings {
  int events = 100000;
  int spread_s = 60;
  int poll_ms = 100;
  int throughput_batches = 20;
  std::size_t throughput_limit = 1000;
  int timed_calls_default = 5;
  int timed_calls_hard = 2;
  bool smoke = false;
};

// CPU seconds the server's main thread has used (INFO cpu, Redis 6+): unlike
// wall time, not inflated when the machine's other load deschedules it.
double server_main_thread_cpu(flashsale::StandaloneClient& client) {
  const std::string info = client.execute({{"INFO", "cpu"}, {}, {}}).as_string();
  return flashsale::testing::info_number(info, "used_cpu_user_main_thread:").value_or(0) +
         flashsale::testing::info_number(info, "used_cpu_sys_main_thread:").value_or(0);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The server's clock (TIME), which the scheduler fires by.
std::chrono::system_clock::time_point server_now(flashsale::Client& client) {
  const flashsale::Reply reply = client.execute({{"TIME"}, {}, {}});
  const auto& time = reply.as_array();
  const long long seconds = std::stoll(time.at(0).as_string());
  const long long microseconds = std::stoll(time.at(1).as_string());
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds) +
                                               std::chrono::microseconds(microseconds));
}

std::string event_name(long long index) {
  return "event-" + std::to_string(index);
}

// Schedules `count` events due evenly over `spread` from `first_due`, from 16
// threads; returns the server time when the last call had returned.
std::chrono::system_clock::time_point schedule_spread(
    SaleScheduler& scheduler, flashsale::Client& client, const std::string& schedule, int count,
    std::chrono::system_clock::time_point first_due, std::chrono::milliseconds spread) {
  constexpr int kThreads = 16;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int event = thread; event < count; event += kThreads) {
        scheduler.schedule(schedule, event_name(event), first_due + spread * event / count);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  return server_now(client);
}

void lateness_case(const bench::BenchServer& server, const Settings& settings, int runners) {
  auto client = server.make_client(24);
  flashsale::SaleSchedulerOptions scheduler_options;
  scheduler_options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  SaleScheduler scheduler(*client, scheduler_options);
  const std::string schedule = "lateness-" + std::to_string(runners);
  // Scheduling runs at several thousand calls a second here; leave it time
  // to finish before the first event is due.
  const auto lead = std::chrono::milliseconds(2000 + settings.events / 4);
  const auto spread = std::chrono::milliseconds(settings.spread_s * 1000);
  const auto first_due = server_now(*client) + lead;
  const auto scheduled_by =
      schedule_spread(scheduler, *client, schedule, settings.events, first_due, spread);
  if (scheduled_by > first_due) {
    std::printf("  (warning: scheduling ended %lld ms after the first due time)\n",
                static_cast<long long>((scheduled_by - first_due) / 1ms));
  }

  flashsale::SaleSchedulerRunnerOptions options;
  options.poll_interval = std::chrono::milliseconds(settings.poll_ms);
  options.poll_jitter = options.poll_interval / 5;
  std::vector<std::unique_ptr<flashsale::SaleSchedulerRunner>> pool;
  for (int runner = 0; runner < runners; ++runner) {
    pool.push_back(std::make_unique<flashsale::SaleSchedulerRunner>(
        scheduler, std::vector<std::string>{schedule}, options));
  }
  while (scheduler.stats(schedule).pending > 0) {
    std::this_thread::sleep_for(200ms);
  }
  std::size_t calls = 0, failures = 0;
  for (auto& runner : pool) {
    runner->stop();
    calls += runner->calls();
    failures += runner->failures();
  }
  const auto stats = scheduler.stats(schedule);
  const auto ms = [](const std::optional<std::chrono::milliseconds>& value) {
    return value ? static_cast<long long>(value->count()) : -1LL;
  };
  std::printf("%7d %8lld %8zu %9.1f %8lld %8lld %8lld %10.2f %8zu\n", runners,
              static_cast<long long>(stats.promoted), calls,
              calls ? static_cast<double>(stats.promoted) / static_cast<double>(calls) : 0.0,
              ms(stats.lateness_p50), ms(stats.lateness_p99), ms(stats.lateness_max),
              static_cast<double>(ms(stats.lateness_p50)) / settings.poll_ms, failures);
  std::fflush(stdout);
}

void throughput_case(const bench::BenchServer& server, const Settings& settings) {
  auto client = server.make_client(16);
  flashsale::SaleSchedulerOptions scheduler_options;
  scheduler_options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  SaleScheduler scheduler(*client, scheduler_options);
  const std::string schedule = "throughput";
  const int total = settings.throughput_batches * static_cast<int>(settings.throughput_limit);
  const auto past = server_now(*client) - 1h;
  schedule_spread(scheduler, *client, schedule, total, past, 1min);

  const auto start = Clock::now();
  int calls = 0;
  std::size_t promoted = 0;
  for (bool more = true; more; ++calls) {
    const auto result = scheduler.promote_due(schedule, settings.throughput_limit);
    promoted += result.promoted.size();
    more = result.more_due;
  }
  const double promote_s = seconds_since(start);

  // Ceiling: the stream writes alone, pipelined.
  const std::string stream = "bench:{ceiling}:stream";
  const auto ceiling_start = Clock::now();
  for (int batch = 0; batch < settings.throughput_batches; ++batch) {
    std::vector<flashsale::Command> commands;
    for (std::size_t entry = 0; entry < settings.throughput_limit; ++entry) {
      commands.push_back({{"XADD", stream, "*", "event_id",
                           event_name(batch * static_cast<long long>(settings.throughput_limit) +
                                      static_cast<long long>(entry)),
                           "due_at", "1700000000000", "promoted_at", "1700000000100", "lateness_ms",
                           "100", "payload", ""},
                          stream,
                          {}});
    }
    for (const auto& reply : client->execute_pipeline(commands)) {
      reply.throw_if_error();
    }
  }
  const double ceiling_s = seconds_since(ceiling_start);
  const double events_per_s = static_cast<double>(promoted) / promote_s;
  const double ceiling_per_s = total / ceiling_s;
  std::printf("promote_due(%zu): %zu events in %d calls, %.0f events/s, %.1f calls/s\n",
              settings.throughput_limit, promoted, calls, events_per_s, calls / promote_s);
  std::printf("ceiling, XADD pipelines of %zu: %.0f entries/s; promotion = %.2f x ceiling\n",
              settings.throughput_limit, ceiling_per_s, events_per_s / ceiling_per_s);
  std::fflush(stdout);
}

void server_time_case(const bench::BenchServer& server, std::size_t limit, int calls) {
  auto client = server.make_client(16);
  flashsale::SaleSchedulerOptions scheduler_options;
  scheduler_options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  scheduler_options.max_promote_per_call = limit;
  SaleScheduler scheduler(*client, scheduler_options);
  const std::string schedule = "server-time-" + std::to_string(limit);
  const auto past = server_now(*client) - 1h;
  schedule_spread(scheduler, *client, schedule, static_cast<int>(limit) * calls, past, 1min);

  const auto& script = flashsale::bundled_script("promote_due_events");
  client->execute({{"SCRIPT", "LOAD", std::string(script.source)}, {}, {}});
  std::size_t promoted = 0;
  std::vector<long long> durations;
  std::vector<double> cpu_us;
  {
    bench::ScriptTimer timer(server);
    durations = timer.time(script, [&] {
      for (int call = 0; call < calls; ++call) {
        const double cpu_before = server_main_thread_cpu(*client);
        promoted += scheduler.promote_due(schedule, limit).promoted.size();
        cpu_us.push_back((server_main_thread_cpu(*client) - cpu_before) * 1e6);
      }
    });
  }
  std::sort(cpu_us.begin(), cpu_us.end());
  std::sort(durations.begin(), durations.end());
  if (durations.empty()) {
    std::printf("promote_due_events at limit %zu: no call seen in the slowlog\n", limit);
    return;
  }
  const long long median = durations[durations.size() / 2];
  const double cpu_median = cpu_us[cpu_us.size() / 2];
  std::printf(
      "promote_due_events at limit %zu: %zu calls, %zu events; wall (slowlog) median %lld us, "
      "max %lld us; server main-thread CPU median %.0f us (%.2f us per event)\n",
      limit, durations.size(), promoted, median, durations.back(), cpu_median,
      cpu_median / static_cast<double>(limit));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  try {
    const bench::BenchArgs args(argc, argv);
    settings.smoke = args.smoke();
    if (settings.smoke) {
      settings.events = 300;
      settings.spread_s = 1;
      settings.poll_ms = 20;
      settings.throughput_batches = 2;
      settings.throughput_limit = 100;
      settings.timed_calls_default = 1;
      settings.timed_calls_hard = 1;
    }
    settings.events = static_cast<int>(args.number("events", settings.events));
    settings.spread_s = static_cast<int>(args.number("spread-s", settings.spread_s));
    settings.poll_ms = static_cast<int>(args.number("poll-ms", settings.poll_ms));
    bench::BenchServer server;
    server.flush();
    std::printf(
        "lateness: %d events due over %d s, poll interval %d ms (jitter %d ms), batch %zu\n",
        settings.events, settings.spread_s, settings.poll_ms, settings.poll_ms / 5,
        flashsale::SaleSchedulerRunnerOptions{}.batch_size);
    std::printf("%7s %8s %8s %9s %8s %8s %8s %10s %8s\n", "runners", "events", "calls", "ev/call",
                "p50_ms", "p99_ms", "max_ms", "p50/poll", "failures");
    for (const int runners : {1, 4, 16}) {
      lateness_case(server, settings, runners);
      server.flush();
    }
    throughput_case(server, settings);
    server.flush();
    server_time_case(server, settings.smoke ? 100 : 1000, settings.timed_calls_default);
    server.flush();
    server_time_case(server, settings.smoke ? 200 : flashsale::kMaxSchedulerPromotePerCallLimit,
                     settings.timed_calls_hard);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "scheduler_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
