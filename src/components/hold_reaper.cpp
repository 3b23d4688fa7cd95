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
  thread_ = std::thread([this] { run(); });
}

HoldReaper::~HoldReaper() {
  stop();
}

void HoldReaper::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  const std::lock_guard<std::mutex> lock(join_mutex_);
  if (thread_.joinable()) {
    thread_.join();
  }
}

void HoldReaper::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      sweep();
      ++sweeps_;
    } catch (const Error& error) {
      ++failures_;
      log_message(LogLevel::Warning, fmt::format("hold reaper sweep failed: {}", error.what()));
    }
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

void HoldReaper::sweep() {
  for (const auto& scope : scopes_) {
    bool more_due = true;
    while (more_due) {
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) {
          return;
        }
      }
      const ReclaimResult result = reserver_.reclaim_expired(scope, options_.batch_size);
      reclaimed_ += result.reclaimed;
      more_due = result.more_due;
    }
  }
}

}  // namespace flashsale
