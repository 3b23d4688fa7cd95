// PeriodicThread: a thread that runs one round of work, pauses, and repeats
// until stopped. The building block of HoldReaper and SaleSchedulerRunner;
// hosts may use it for their own sweeps.
//
// RAII: the constructor starts the thread, stop() or the destructor wakes it
// from its pause and joins it, waiting at most for the round in flight (a
// long round can check the stop_requested() of the thread it is given to end
// early).
//
// Thread-safety: stop() and stop_requested() may be called from any thread,
// stop() from several at once. `round` must not throw (catch and log inside
// it): an exception leaving it ends the program (std::terminate).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "flashsale/export.hpp"

namespace flashsale {

class FLASHSALE_EXPORT PeriodicThread {
 public:
  // Calls round(*this), then waits pause() (asked again before every pause),
  // and so on until stop().
  PeriodicThread(std::function<void(const PeriodicThread&)> round,
                 std::function<std::chrono::milliseconds()> pause);
  ~PeriodicThread();
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Stops and joins the thread; calling it again does nothing.
  void stop();
  bool stop_requested() const;

 private:
  void run();

  std::function<void(const PeriodicThread&)> round_;
  std::function<std::chrono::milliseconds()> pause_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::mutex join_mutex_;  // one joiner at a time when stop() races
  std::thread thread_;
};

}  // namespace flashsale
