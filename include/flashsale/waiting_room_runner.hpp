// WaitingRoomRunner: a thread the host may run so a room keeps admitting,
// expiring and dropping abandoned visitors on an interval even when no
// visitor calls join()/status() (they do the same work lazily; the runner
// only makes admission steadier, no room needs one).
//
// Every `interval` it calls WaitingRoom::advance(room) for each of its rooms
// until a call reports nothing more due (or it is asked to stop). Any number
// of runners, in any number of processes, may serve the same room: advance()
// is one atomic script that keeps the rate and the cap. A failure of one pass
// (Redis down, a timeout) is logged as a warning and the next interval tries
// again; it never ends the thread.
//
// RAII: the constructor starts the thread, stop() or the destructor stops and
// joins it, waiting at most for the advance() call in flight.
//
// Thread-safety: stop() and the counters may be called from any thread. The
// room (and its client) must outlive the runner.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "flashsale/export.hpp"
#include "flashsale/periodic_thread.hpp"
#include "flashsale/waiting_room.hpp"

namespace flashsale {

struct WaitingRoomRunnerOptions {
  // Pause between passes (at least 1 ms).
  std::chrono::milliseconds interval{std::chrono::milliseconds(100)};
};

class FLASHSALE_EXPORT WaitingRoomRunner {
 public:
  // Validates the rooms and options (InvalidArgument) and starts the thread.
  WaitingRoomRunner(WaitingRoom& room, std::vector<std::string> rooms,
                    WaitingRoomRunnerOptions options = {});
  ~WaitingRoomRunner();
  WaitingRoomRunner(const WaitingRoomRunner&) = delete;
  WaitingRoomRunner& operator=(const WaitingRoomRunner&) = delete;

  // Stops and joins the thread; calling it again does nothing.
  void stop();

  // Passes finished (every room visited), visitors admitted, passes that failed.
  std::size_t passes() const noexcept { return passes_.load(); }
  std::size_t admitted() const noexcept { return admitted_.load(); }
  std::size_t failures() const noexcept { return failures_.load(); }

  const WaitingRoomRunnerOptions& options() const noexcept { return options_; }

 private:
  void pass(const PeriodicThread& thread);

  WaitingRoom& room_;
  std::vector<std::string> rooms_;
  WaitingRoomRunnerOptions options_;
  std::atomic<std::size_t> passes_{0};
  std::atomic<std::size_t> admitted_{0};
  std::atomic<std::size_t> failures_{0};
  std::optional<PeriodicThread> thread_;  // last: started once the rest is in place
};

}  // namespace flashsale
