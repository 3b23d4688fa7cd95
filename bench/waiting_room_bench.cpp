// WaitingRoom per-call cost and memory as the line grows: 1,000, 100,000 and
// 1,000,000 waiting visitors.
//
//   waiting_room_bench [--smoke] [--seconds S] [--rounds R] [--threads T]
//
// The room is filled with join() calls from T threads (default 8) while
// admission is closed (admission_opens_at an hour ahead; heartbeat_timeout
// 1 h so nobody is dropped, but the `seen` zset is kept as with the
// defaults). At each size the program measures:
//
//   script time   the server's own duration (µs, from the slowlog, see
//                 support/script_timer.hpp) of 1000 joins of new visitors, of
//                 1000 status() calls of random waiting visitors, and of 20
//                 advance() calls that each admit steps_per_call = 100
//                 visitors (a second WaitingRoom on the same room with
//                 admission open): median, p99 and max
//   calls/s       T threads calling join() (new visitors) or status()
//                 (random waiting visitors) for S seconds (default 1), beside
//                 the ceiling: the same threads and connections calling a
//                 trivial script (return redis.call('TIME')) through the
//                 same run_script path (EVALSHA). The three run in
//                 turn R times (default 5) and the best slice of each counts,
//                 so load from elsewhere on the machine hurts all three
//                 alike; the ratio is what the waiting-room script costs on
//                 top of a script round trip
//   memory        MEMORY USAGE (SAMPLES 0) of the room's keys / waiting
//                 visitors, and the used_memory growth since the empty room /
//                 visitors (allocator and client buffers included: rougher)
//
// Visitor ids are 16 bytes ("visitor:00000001" style). --smoke: 1,000 and
// 5,000 visitors, 0.2 s. Nothing is asserted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/script.hpp"
#include "flashsale/waiting_room.hpp"
#include "redis_server.hpp"
#include "script_timer.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::StandaloneClient;
using flashsale::WaitingRoom;
using Clock = std::chrono::steady_clock;

const std::string kRoom = "bench";
const std::vector<const char*> kKeySuffixes = {"waiting", "seen", "active", "admitted", "state"};

std::string visitor_id(long long number) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "visitor:%08lld", number);
  return buffer;
}

long long used_memory(StandaloneClient& client) {
  return static_cast<long long>(
      flashsale::testing::info_number(client, "memory", "used_memory:").value_or(0));
}

long long room_bytes(StandaloneClient& client) {
  long long total = 0;
  for (const char* suffix : kKeySuffixes) {
    const std::string key = "fs:room:{" + kRoom + "}:" + suffix;
    const auto reply = client.execute({{"MEMORY", "USAGE", key, "SAMPLES", "0"}, key, {}});
    total += reply.is_nil() ? 0 : reply.as_integer();
  }
  return total;
}

// Runs `work(thread, index)` for indexes [0, count) split over `threads`.
void split(int threads, long long count, const std::function<void(int, long long)>& work) {
  std::vector<std::thread> pool;
  for (int thread = 0; thread < threads; ++thread) {
    pool.emplace_back([&, thread] {
      for (long long index = thread; index < count; index += threads) {
        work(thread, index);
      }
    });
  }
  for (auto& thread : pool) {
    thread.join();
  }
}

// Calls per second of `call(thread, iteration)` on `threads` threads for `seconds`.
double calls_per_second(int threads, double seconds,
                        const std::function<void(int, long long)>& call) {
  std::atomic<long long> calls{0};
  const auto start = Clock::now();
  const auto stop = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int thread = 0; thread < threads; ++thread) {
    pool.emplace_back([&, thread] {
      long long mine = 0;
      while (Clock::now() < stop) {
        call(thread, mine++);
      }
      calls += mine;
    });
  }
  for (auto& thread : pool) {
    thread.join();
  }
  return static_cast<double>(calls.load()) /
         std::chrono::duration<double>(Clock::now() - start).count();
}

struct Percentiles {
  std::size_t calls = 0;
  long long median = 0;
  long long p99 = 0;
  long long max = 0;
};

Percentiles percentiles(const std::vector<long long>& durations) {
  Percentiles result;
  result.calls = durations.size();
  result.median = bench::percentile(durations, 0.5);
  result.p99 = bench::percentile(durations, 0.99);
  result.max = bench::percentile(durations, 1.0);
  return result;
}

void print_script_row(long long size, const char* what, const Percentiles& figures) {
  std::printf("  script %-8s %5zu calls   median %5lld us   p99 %5lld us   max %5lld us\n", what,
              figures.calls, figures.median, figures.p99, figures.max);
  std::printf("summary size %lld script %s median_us %lld p99_us %lld max_us %lld\n", size, what,
              figures.median, figures.p99, figures.max);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const bool smoke = args.smoke();
  const double seconds =
      std::max(0.1, std::atof(args.text("seconds", smoke ? "0.2" : "1").c_str()));
  const int rounds = static_cast<int>(args.number("rounds", smoke ? 1 : 5));
  const int threads = static_cast<int>(args.number("threads", 8));
  const std::vector<long long> sizes =
      smoke ? std::vector<long long>{1000, 5000} : std::vector<long long>{1000, 100000, 1000000};
  const long long timed_calls = smoke ? 50 : 1000;
  const long long timed_advances = smoke ? 3 : 20;
  try {
    bench::BenchServer server;
    server.flush();
    auto client = server.make_client(static_cast<std::size_t>(threads) + 1);
    for (const auto& script : flashsale::bundled_scripts()) {
      client->execute({{"SCRIPT", "LOAD", std::string(script.source)}, {}, {}});
    }
    flashsale::WaitingRoomOptions options;
    options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
    options.admission_opens_at = std::chrono::system_clock::now() + 1h;
    options.heartbeat_timeout = 1h;
    WaitingRoom room(*client, options);
    flashsale::WaitingRoomOptions open_options = options;
    open_options.admission_opens_at = {};
    WaitingRoom open_room(*client, open_options);  // advance() admits 100 per call
    // The ceiling: a script that does nothing but read the clock, called
    // like the room's (EVALSHA through run_script).
    const std::string ceiling_source = "return redis.call('TIME')";
    const std::string ceiling_sha =
        client->execute({{"SCRIPT", "LOAD", ceiling_source}, {}, {}}).as_string();
    const flashsale::Script ceiling_script{"ceiling", ceiling_source, ceiling_sha};
    const flashsale::ScriptCall ceiling_call{&ceiling_script, {}, {}};

    const long long empty_memory = used_memory(*client);
    std::atomic<long long> next_visitor{0};  // joined so far, ids 0..next-1
    std::atomic<long long> admitted{0};      // the lowest tickets, no longer waiting
    std::printf("waiting_room_bench: %d threads, best of %d slices of %.1f s per rate, sizes",
                threads, rounds, seconds);
    for (const long long size : sizes) {
      std::printf(" %lld", size);
    }
    std::printf("\n");
    for (const long long size : sizes) {
      const auto fill_start = Clock::now();
      const long long from = next_visitor.load();
      split(threads, size - (from - admitted.load()),
            [&](int, long long) { room.join(kRoom, visitor_id(next_visitor++)); });
      const double fill_s = std::chrono::duration<double>(Clock::now() - fill_start).count();
      const long long waiting = static_cast<long long>(room.stats(kRoom).waiting);
      const long long bytes = room_bytes(*client);
      const long long used = used_memory(*client) - empty_memory;
      std::printf("\n%lld waiting visitors (filled in %.1f s)\n", waiting, fill_s);
      std::printf("  memory %.1f bytes/visitor (MEMORY USAGE), %.1f (used_memory growth)\n",
                  static_cast<double>(bytes) / static_cast<double>(waiting),
                  static_cast<double>(used) / static_cast<double>(waiting));
      std::printf("summary size %lld bytes_per_visitor %.1f used_memory_per_visitor %.1f\n",
                  waiting, static_cast<double>(bytes) / static_cast<double>(waiting),
                  static_cast<double>(used) / static_cast<double>(waiting));
      std::fflush(stdout);

      std::vector<std::mt19937_64> random;
      for (int thread = 0; thread < threads; ++thread) {
        random.emplace_back(static_cast<std::uint64_t>(size * 31 + thread));
      }
      // A random visitor still waiting: admitted ones hold the lowest numbers.
      const auto waiting_visitor = [&](int thread) {
        const long long low = admitted.load();
        const long long high = next_visitor.load();
        std::uniform_int_distribution<long long> pick(low, high - 1);
        return visitor_id(pick(random[static_cast<std::size_t>(thread)]));
      };
      {
        bench::ScriptTimer timer(server);
        const auto& script = flashsale::bundled_script("visit_waiting_room");
        print_script_row(size, "join", percentiles(timer.time(script, [&] {
                           for (long long call = 0; call < timed_calls; ++call) {
                             room.join(kRoom, visitor_id(next_visitor++));
                           }
                         })));
        print_script_row(size, "status", percentiles(timer.time(script, [&] {
                           for (long long call = 0; call < timed_calls; ++call) {
                             room.status(kRoom, waiting_visitor(0));
                           }
                         })));
        std::size_t admitted_by_advance = 0;
        const auto advance_times = percentiles(timer.time(script, [&] {
          for (long long call = 0; call < timed_advances; ++call) {
            admitted_by_advance += open_room.advance(kRoom).admitted;
          }
        }));
        admitted += static_cast<long long>(admitted_by_advance);
        print_script_row(size, "advance", advance_times);
        std::printf("  (advance admitted %zu visitors, %zu per call)\n", admitted_by_advance,
                    admitted_by_advance / static_cast<std::size_t>(timed_advances));
      }

      // Interleaved slices, best of each: the machine's load drifts.
      double ceiling = 0;
      double statuses = 0;
      double joins = 0;
      for (int round = 0; round < rounds; ++round) {
        ceiling = std::max(ceiling, calls_per_second(threads, seconds, [&](int, long long) {
                             client->run_script(ceiling_call);
                           }));
        statuses =
            std::max(statuses, calls_per_second(threads, seconds, [&](int thread, long long) {
                       room.status(kRoom, waiting_visitor(thread));
                     }));
        joins = std::max(joins, calls_per_second(threads, seconds, [&](int, long long) {
                           room.join(kRoom, visitor_id(next_visitor++));
                         }));
      }
      std::printf("  calls/s: ceiling (TIME script) %.0f, join %.0f (%.2f), status %.0f (%.2f)\n",
                  ceiling, joins, joins / ceiling, statuses, statuses / ceiling);
      std::printf(
          "summary size %lld ceiling_per_s %.0f join_per_s %.0f join_ratio %.2f status_per_s %.0f "
          "status_ratio %.2f\n",
          size, ceiling, joins, joins / ceiling, statuses, statuses / ceiling);
      std::fflush(stdout);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "waiting_room_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
