// SaleSchedulerRunner: a thread that promotes the due events of its schedules
// (SaleScheduler::promote_due) on a jittered interval.
//
// Run one in every instance of the host, as many as you like: there is no
// leader and no lock, because each promotion is one script that claims the
// events it moves (see sale_scheduler.hpp). More runners mean lower lateness
// (a due event waits for the next call of any runner, about
// poll_interval / runners on average) and no single point of failure; a
// runner that dies mid-call loses nothing.
//
// Every round it calls promote_due(schedule, batch_size) for each schedule,
// again at once while the call hit its limit (catching up after downtime in
// calls that each move at most batch_size events), then sleeps poll_interval
// +- a uniform random jitter, so runners started together drift apart. A
// failed call (Redis down, a timeout) is logged as a warning and counted; the
// next round tries again; it never ends the thread.
//
// RAII: the constructor starts the thread, stop() or the destructor stops and
// joins it, waiting at most for the promotion call in flight.
//
// Thread-safety: stop() and the counters may be called from any thread. The
// scheduler (and its client) must outlive the runner.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "flashsale/export.hpp"
#include "flashsale/periodic_thread.hpp"
#include "flashsale/sale_scheduler.hpp"

namespace flashsale {

struct SaleSchedulerRunnerOptions {
  // Mean pause between rounds (at least 1 ms).
  std::chrono::milliseconds poll_interval{100};
  // Each pause is poll_interval plus a uniform random amount in
  // [-poll_jitter, +poll_jitter], so that runners started together drift
  // apart (0..poll_interval; 0 means none).
  std::chrono::milliseconds poll_jitter{20};
  // Events per promote_due call (1..the scheduler's max_promote_per_call).
  // One promotion costs Redis about 10 us of CPU per event (scheduler_bench),
  // so 100 keeps each call near 1 ms.
  std::size_t batch_size = 100;
};

class FLASHSALE_EXPORT SaleSchedulerRunner {
 public:
  // Validates the schedules and options (InvalidArgument) and starts the thread.
  SaleSchedulerRunner(SaleScheduler& scheduler, std::vector<std::string> schedules,
                      SaleSchedulerRunnerOptions options = {});
  ~SaleSchedulerRunner();
  SaleSchedulerRunner(const SaleSchedulerRunner&) = delete;
  SaleSchedulerRunner& operator=(const SaleSchedulerRunner&) = delete;

  // Stops and joins the thread; calling it again does nothing.
  void stop();

  // Of this runner since it started: promote_due calls that succeeded, events
  // they promoted, calls that failed.
  std::size_t calls() const noexcept { return calls_.load(); }
  std::size_t promoted() const noexcept { return promoted_.load(); }
  std::size_t failures() const noexcept { return failures_.load(); }

  const SaleSchedulerRunnerOptions& options() const noexcept { return options_; }

 private:
  void promote_round(const PeriodicThread& thread);
  std::chrono::milliseconds next_pause();

  SaleScheduler& scheduler_;
  std::vector<std::string> schedules_;
  SaleSchedulerRunnerOptions options_;
  std::atomic<std::size_t> calls_{0};
  std::atomic<std::size_t> promoted_{0};
  std::atomic<std::size_t> failures_{0};
  std::mt19937_64 random_;                // the thread's only
  std::optional<PeriodicThread> thread_;  // last: started once the rest is in place
};

}  // namespace flashsale
