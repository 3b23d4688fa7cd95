#include "flashsale/hold_reaper.hpp"

#include <fmt/format.h>

#include <utility>

#include "common/periodic_worker.hpp"
#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"

namespace flashsale {

HoldReaper::HoldReaper(StockReserver& reserver, std::vector<std::string> scopes,
                       HoldReaperOptions options)
    : reserver_(reserver), scopes_(std::move(scopes)), options_(options) {
  if (scopes_.empty()) {
    throw InvalidArgument("a hold reaper needs at least one scope");
  }
  for (const auto& scope : scopes_) {
    validate_key_id(scope, "stock scope id");
  }
  if (options_.interval.count() < 1) {
    throw InvalidArgument("hold reaper interval must be at least 1 ms");
  }
  if (options_.batch_size < 1 || options_.batch_size > reserver_.options().max_reclaim_per_call) {
    throw InvalidArgument(fmt::format("hold reaper batch size must be 1..{}",
                                      reserver_.options().max_reclaim_per_call));
  }
  worker_ = std::make_unique<detail::PeriodicWorker>(
      options_.interval, "hold reaper sweep",
      [this](const detail::PeriodicWorker& worker) { sweep(worker); });
}

HoldReaper::~HoldReaper() {
  stop();
}

void HoldReaper::stop() {
  worker_->stop();
}

std::size_t HoldReaper::sweeps() const noexcept {
  return worker_->passes();
}

std::size_t HoldReaper::failures() const noexcept {
  return worker_->failures();
}

void HoldReaper::sweep(const detail::PeriodicWorker& worker) {
  for (const auto& scope : scopes_) {
    bool more_due = true;
    while (more_due && !worker.stopping()) {
      const ReclaimResult result = reserver_.reclaim_expired(scope, options_.batch_size);
      reclaimed_ += result.reclaimed;
      more_due = result.more_due;
    }
  }
}

}  // namespace flashsale
