#include "common/periodic_worker.hpp"

#include <fmt/format.h>

#include <utility>

#include "flashsale/error.hpp"
#include "flashsale/log.hpp"

namespace flashsale::detail {

PeriodicWorker::PeriodicWorker(std::chrono::milliseconds interval, std::string what,
                               std::function<void(const PeriodicWorker&)> pass)
    : interval_(interval),
      what_(std::move(what)),
      pass_(std::move(pass)),
      thread_([this] { run(); }) {}

PeriodicWorker::~PeriodicWorker() {
  stop();
}

void PeriodicWorker::stop() {
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

bool PeriodicWorker::stopping() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void PeriodicWorker::run() {
  while (!stopping()) {
    try {
      pass_(*this);
      ++passes_;
    } catch (const Error& error) {
      ++failures_;
      log_message(LogLevel::Warning, fmt::format("{} failed: {}", what_, error.what()));
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace flashsale::detail
