// The thread behind the host-run helpers (HoldReaper, WaitingRoomRunner):
// calls a pass every interval until stopped. A flashsale::Error thrown by a
// pass is counted and logged as a warning, and the next interval tries
// again; it never ends the thread.
//
// The constructor starts the thread, stop() or the destructor stops and
// joins it, waiting at most for the pass in flight (a pass should check
// stopping() between its calls). stop() and the counters may be called from
// any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace flashsale::detail {

class PeriodicWorker {
 public:
  // `what` names the pass in warnings ("hold reaper sweep"). `pass` runs on
  // the worker's thread and gets the worker, to ask stopping().
  PeriodicWorker(std::chrono::milliseconds interval, std::string what,
                 std::function<void(const PeriodicWorker&)> pass);
  ~PeriodicWorker();
  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  // Stops and joins the thread; calling it again does nothing.
  void stop();
  bool stopping() const;

  // Passes that ended normally; passes that threw.
  std::size_t passes() const noexcept { return passes_.load(); }
  std::size_t failures() const noexcept { return failures_.load(); }

 private:
  void run();

  std::chrono::milliseconds interval_;
  std::string what_;
  std::function<void(const PeriodicWorker&)> pass_;
  std::atomic<std::size_t> passes_{0};
  std::atomic<std::size_t> failures_{0};
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::mutex join_mutex_;  // one joiner at a time when stop() races
  std::thread thread_;     // last: starts once everything above exists
};

}  // namespace flashsale::detail
