// What transport metrics (ConnectionOptions::metrics) cost per call, as a
// ratio to one synchronous FirstComeCouponIssuer::issue() measured in the same
// run against a private redis-server (or FLASHSALE_BENCH_REDIS=host:port).
//
// The difference between two round trips of ~30 µs is below their noise, so
// the cost is measured where it is paid, on the library's own code:
//   call hook   detail::CallMetrics::observe around a call that does no I/O
//               (clock reads, the operation lookup, the histogram observe),
//               minus the same call with metrics off
//   pool hook   ConnectionPool::acquire + release of an idle connection with
//               metrics on, minus the same with metrics off (wait histogram,
//               in-use gauge)
// each on 1 thread and on N threads at once (contention on shared lines), in
// CPU time per call. The denominator is the wall time of one synchronous
// issue() (what a caller waits).
// The denominator, issue() with metrics off, and issue() with metrics on are
// measured in alternating rounds; the end-to-end difference is printed too.
//
//   metrics_overhead_bench [--smoke] [--threads N]
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/metrics.hpp"
#include "flashsale/script.hpp"
#include "transport/connection_pool.hpp"
#include "transport/transport_metrics.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double thread_cpu_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

// CPU nanoseconds per call of `call` (summed over the threads, divided by all
// calls), median of `rounds` rounds of `calls` calls on each of `threads`
// threads started together. CPU time, not wall time: with more threads than
// cores, time slicing would otherwise count as cost; contention (cache lines
// moving between cores, compare-exchange retries) is CPU time and counts.
double cpu_ns_per_call(int threads, int rounds, int calls, const std::function<void(int)>& call) {
  std::vector<double> results;
  for (int round = 0; round < rounds; ++round) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<double> per_thread(static_cast<std::size_t>(threads));
    std::vector<std::thread> workers;
    for (int thread = 0; thread < threads; ++thread) {
      workers.emplace_back([&, thread] {
        ++ready;
        while (!go.load()) {
          std::this_thread::yield();
        }
        const double started = thread_cpu_ns();
        for (int index = 0; index < calls; ++index) {
          call(index);
        }
        per_thread[static_cast<std::size_t>(thread)] = thread_cpu_ns() - started;
      });
    }
    while (ready.load() < threads) {
      std::this_thread::yield();
    }
    go = true;
    for (auto& worker : workers) {
      worker.join();
    }
    double total = 0;
    for (const double cpu : per_thread) {
      total += cpu;
    }
    results.push_back(total / (static_cast<double>(threads) * calls));
  }
  return bench::percentile(std::move(results), 0.5);
}

// Wall nanoseconds per call of `call` on this thread, one round.
double wall_ns_per_call(int calls, const std::function<void(int)>& call) {
  const auto started = Clock::now();
  for (int index = 0; index < calls; ++index) {
    call(index);
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - started).count() / calls;
}

struct HookCost {
  double off_ns;
  double on_ns;
  double cost() const { return std::max(0.0, on_ns - off_ns); }
};

HookCost call_hook_cost(int threads, int rounds, int calls) {
  auto registry = std::make_shared<flashsale::MetricsRegistry>();
  flashsale::detail::CallMetrics metrics(registry);
  const flashsale::ScriptCall call{&flashsale::bundled_script("issue_coupon"), {"k"}, {}};
  const auto run = [&](flashsale::detail::CallMetrics* on) {
    return cpu_ns_per_call(threads, rounds, calls, [&](int) {
      auto replies = flashsale::detail::CallMetrics::observe(
          on, flashsale::detail::CallKind::Script, call,
          [] { return std::vector<flashsale::Reply>(1, flashsale::Reply::integer(1)); });
      if (replies.size() != 1) {
        std::abort();
      }
    });
  };
  return {run(nullptr), run(&metrics)};
}

HookCost pool_hook_cost(const bench::BenchServer& server, int threads, int rounds, int calls) {
  const auto run = [&](bool with_metrics) {
    auto options = server.connection_options();
    if (with_metrics) {
      options.metrics = std::make_shared<flashsale::MetricsRegistry>();
    }
    flashsale::PoolOptions pool_options;
    pool_options.size = static_cast<std::size_t>(threads);
    pool_options.wait_timeout = 10s;
    flashsale::detail::ConnectionPool pool(options, pool_options);
    {
      // Connect outside the timing: every thread then finds an idle one.
      std::vector<flashsale::detail::ConnectionPool::Lease> leases;
      for (int thread = 0; thread < threads; ++thread) {
        leases.push_back(pool.acquire());
      }
    }
    return cpu_ns_per_call(threads, rounds, calls, [&](int) { auto lease = pool.acquire(); });
  };
  return {run(false), run(true)};
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const bool smoke = args.smoke();
  const int threads = static_cast<int>(args.number("threads", 8));
  const int rounds = smoke ? 1 : 7;
  const int issue_calls = smoke ? 50 : 4000;
  const int hook_calls = smoke ? 1000 : 200000;
  const int pool_calls = smoke ? 200 : 20000;
  try {
    bench::BenchServer server;
    server.flush();

    // The denominator: synchronous issue() on one connection, metrics off
    // and on in alternating rounds.
    std::vector<double> issue_off;
    std::vector<double> issue_on;
    std::int64_t user = 0;
    for (int round = 0; round < rounds; ++round) {
      for (const bool on : {false, true}) {
        auto options = server.connection_options();
        if (on) {
          options.metrics = std::make_shared<flashsale::MetricsRegistry>();
        }
        flashsale::StandaloneClient client(options, flashsale::PoolOptions{1});
        flashsale::FirstComeCouponIssuer issuer(client);
        const auto now = std::chrono::system_clock::now();
        issuer.register_template({"bench", std::int64_t{1} << 50, now - 1h, now + 24h, 1});
        issuer.issue("bench", "warm-" + std::to_string(++user));
        (on ? issue_on : issue_off).push_back(wall_ns_per_call(issue_calls, [&](int) {
          issuer.issue("bench", "user:" + std::to_string(++user));
        }));
      }
    }
    const double issue_ns = bench::percentile(issue_off, 0.5);
    const double issue_metrics_ns = bench::percentile(issue_on, 0.5);

    // The noise band of a round trip: how far the metrics-off rounds alone
    // spread around their median.
    const double off_spread =
        100.0 * (bench::percentile(issue_off, 1.0) - bench::percentile(issue_off, 0.0)) / issue_ns;
    std::printf(
        "synchronous issue(), 1 connection: %.1f us with metrics off, %.1f us on "
        "(end-to-end difference %+.2f %%; the metrics-off rounds alone spread over %.1f %%)\n",
        issue_ns / 1000, issue_metrics_ns / 1000, 100.0 * (issue_metrics_ns - issue_ns) / issue_ns,
        off_spread);
    std::printf("%-26s %8s %10s %10s %10s %12s\n", "hook (cpu per call)", "threads", "off_ns",
                "on_ns", "cost_ns", "of_issue");
    double worst_total = 0;
    for (const int thread_count : {1, threads}) {
      const HookCost call = call_hook_cost(thread_count, rounds, hook_calls);
      const HookCost pool = pool_hook_cost(server, thread_count, rounds, pool_calls);
      for (const auto& [name, cost] :
           {std::pair<const char*, HookCost>{"call (observe)", call}, {"pool (acquire)", pool}}) {
        std::printf("%-26s %8d %10.1f %10.1f %10.1f %11.3f%%\n", name, thread_count, cost.off_ns,
                    cost.on_ns, cost.cost(), 100.0 * cost.cost() / issue_ns);
      }
      const double total = call.cost() + pool.cost();
      std::printf("%-26s %8d %10s %10s %10.1f %11.3f%%\n", "per issue() (call + pool)",
                  thread_count, "", "", total, 100.0 * total / issue_ns);
      worst_total = std::max(worst_total, total);
    }
    std::printf("metrics cost per synchronous issue(): %.3f %% (goal <= 2 %%)\n",
                100.0 * worst_total / issue_ns);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "metrics_overhead_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
