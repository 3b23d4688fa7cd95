// HoldReaper: a thread the host may run to give the stock of expired holds
// back on an interval, so stock returns even when no reserve comes by.
//
// Every `interval` it calls StockReserver::reclaim_expired(scope, batch_size)
// for each of its scopes until no expired hold is left (or it is asked to
// stop). A failure of one sweep (Redis down, a timeout) is logged as a warning
// and the next interval tries again; it never ends the thread.
//
// RAII: the constructor starts the thread, stop() or the destructor stops and
// joins it, waiting at most for the reclaim call in flight.
//
// Scopes may be added and removed while it runs (a new deal opens, an old one
// ends), so one reaper serves every live scope; a scope added is swept by the
// next sweep, a scope removed is not visited again after the scope in
// progress.
//
// Thread-safety: stop(), add_scope(), remove_scope(), scopes() and the
// counters may be called from any thread. The reserver (and its client) must
// outlive the reaper.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flashsale/export.hpp"
#include "flashsale/periodic_thread.hpp"
#include "flashsale/stock_reserver.hpp"

namespace flashsale {

struct HoldReaperOptions {
  // Pause between sweeps (at least 1 ms).
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  // Holds per reclaim_expired call (1..the reserver's max_reclaim_per_call).
  std::size_t batch_size = 100;
};

class FLASHSALE_EXPORT HoldReaper {
 public:
  // Validates the scopes and options (InvalidArgument) and starts the thread.
  // `scopes` may be empty (scopes added later); duplicates count once.
  HoldReaper(StockReserver& reserver, std::vector<std::string> scopes,
             HoldReaperOptions options = {});
  ~HoldReaper();
  HoldReaper(const HoldReaper&) = delete;
  HoldReaper& operator=(const HoldReaper&) = delete;

  // Stops and joins the thread; calling it again does nothing.
  void stop();

  // Adds a scope to sweep (validated like a stock scope id: InvalidArgument).
  // Returns false when it was already swept.
  bool add_scope(std::string_view scope);
  // Stops sweeping a scope; returns false when it was not swept.
  bool remove_scope(std::string_view scope);
  // The scopes swept now, in the order they were added.
  std::vector<std::string> scopes() const;

  // Sweeps finished (every scope visited), holds reclaimed, sweeps that failed.
  std::size_t sweeps() const noexcept { return sweeps_.load(); }
  std::size_t reclaimed() const noexcept { return reclaimed_.load(); }
  std::size_t failures() const noexcept { return failures_.load(); }

  const HoldReaperOptions& options() const noexcept { return options_; }

 private:
  void sweep(const PeriodicThread& thread);
  bool sweeps_scope(std::string_view scope) const;

  StockReserver& reserver_;
  std::vector<std::string> scopes_;  // guarded by mutex_
  HoldReaperOptions options_;
  std::atomic<std::size_t> sweeps_{0};
  std::atomic<std::size_t> reclaimed_{0};
  std::atomic<std::size_t> failures_{0};
  mutable std::mutex mutex_;
  std::optional<PeriodicThread> thread_;  // last: started once the rest is in place
};

}  // namespace flashsale
