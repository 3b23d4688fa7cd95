#include "flashsale/hold_reaper.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/log.hpp"

namespace flashsale {

HoldReaper::HoldReaper(StockReserver& reserver, std::vector<std::string> scopes,
                       HoldReaperOptions options)
    : reserver_(reserver), options_(options) {
  for (const auto& scope : scopes) {
    validate_key_id(scope, "stock scope id");
    if (std::find(scopes_.begin(), scopes_.end(), scope) == scopes_.end()) {
      scopes_.push_back(scope);
    }
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

bool HoldReaper::add_scope(std::string_view scope) {
  validate_key_id(scope, "stock scope id");
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (std::find(scopes_.begin(), scopes_.end(), scope) != scopes_.end()) {
      return false;
    }
    scopes_.emplace_back(scope);
  }
  return true;
}

bool HoldReaper::remove_scope(std::string_view scope) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto found = std::find(scopes_.begin(), scopes_.end(), scope);
  if (found == scopes_.end()) {
    return false;
  }
  scopes_.erase(found);
  return true;
}

std::vector<std::string> HoldReaper::scopes() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return scopes_;
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
  for (const auto& scope : scopes()) {
    bool more_due = true;
    while (more_due) {
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) {
          return;
        }
        if (std::find(scopes_.begin(), scopes_.end(), scope) == scopes_.end()) {
          break;  // removed meanwhile
        }
      }
      const ReclaimResult result = reserver_.reclaim_expired(scope, options_.batch_size);
      reclaimed_ += result.reclaimed;
      more_due = result.more_due;
    }
  }
}

}  // namespace flashsale
