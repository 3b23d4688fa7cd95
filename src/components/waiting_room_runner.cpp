#include "flashsale/waiting_room_runner.hpp"

#include <fmt/format.h>

#include <utility>

#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/log.hpp"

namespace flashsale {

WaitingRoomRunner::WaitingRoomRunner(WaitingRoom& room, std::vector<std::string> rooms,
                                     WaitingRoomRunnerOptions options)
    : room_(room), rooms_(std::move(rooms)), options_(options) {
  if (rooms_.empty()) {
    throw InvalidArgument("a waiting room runner needs at least one room");
  }
  for (const auto& id : rooms_) {
    validate_key_id(id, "room id");
  }
  if (options_.interval.count() < 1) {
    throw InvalidArgument("waiting room runner interval must be at least 1 ms");
  }
  thread_ = std::thread([this] { run(); });
}

WaitingRoomRunner::~WaitingRoomRunner() {
  stop();
}

void WaitingRoomRunner::stop() {
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

bool WaitingRoomRunner::stopping() {
  const std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void WaitingRoomRunner::run() {
  while (!stopping()) {
    try {
      pass();
      ++passes_;
    } catch (const Error& error) {
      ++failures_;
      log_message(LogLevel::Warning,
                  fmt::format("waiting room runner pass failed: {}", error.what()));
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

void WaitingRoomRunner::pass() {
  for (const auto& id : rooms_) {
    bool more_due = true;
    while (more_due && !stopping()) {
      const AdvanceResult result = room_.advance(id);
      admitted_ += result.admitted;
      more_due = result.more_due;
    }
  }
}

}  // namespace flashsale
