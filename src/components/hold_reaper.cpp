#include "flashsale/hold_reaper.hpp"

#include <fmt/format.h>

#include <utility>

#include "common/option_checks.hpp"
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
  detail::OptionChecks("HoldReaperOptions")
      .at_least("interval", options_.interval, std::chrono::milliseconds{1})
      .between("batch_size", options_.batch_size, std::size_t{1},
               reserver_.options().max_reclaim_per_call);
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
