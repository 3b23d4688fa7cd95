#include "flashsale/hold_reaper.hpp"

#include <fmt/format.h>

#include <utility>

#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/log.hpp"

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
  thread_.emplace([this](const PeriodicThread& thread) { sweep(thread); },
                  [this] { return options_.interval; });
}

HoldReaper::~HoldReaper() {
  stop();
}

void HoldReaper::stop() {
  thread_->stop();
}

void HoldReaper::sweep(const PeriodicThread& thread) {
  try {
    for (const auto& scope : scopes_) {
      bool more_due = true;
      while (more_due) {
        if (thread.stop_requested()) {
          return;
        }
        const ReclaimResult result = reserver_.reclaim_expired(scope, options_.batch_size);
        reclaimed_ += result.reclaimed;
        more_due = result.more_due;
      }
    }
    ++sweeps_;
  } catch (const Error& error) {
    ++failures_;
    log_message(LogLevel::Warning, fmt::format("hold reaper sweep failed: {}", error.what()));
  }
}

}  // namespace flashsale
