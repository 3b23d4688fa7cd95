#include "flashsale/hold_reaper.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "common/option_checks.hpp"
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

bool HoldReaper::add_scope(std::string_view scope) {
  validate_key_id(scope, "stock scope id");
  const std::lock_guard<std::mutex> lock(mutex_);
  if (std::find(scopes_.begin(), scopes_.end(), scope) != scopes_.end()) {
    return false;
  }
  scopes_.emplace_back(scope);
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

bool HoldReaper::sweeps_scope(std::string_view scope) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return std::find(scopes_.begin(), scopes_.end(), scope) != scopes_.end();
}

void HoldReaper::sweep(const PeriodicThread& thread) {
  try {
    for (const auto& scope : scopes()) {
      bool more_due = true;
      while (more_due) {
        if (thread.stop_requested()) {
          return;
        }
        if (!sweeps_scope(scope)) {
          break;  // removed meanwhile
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
