#include "flashsale/waiting_room_runner.hpp"

#include <utility>

#include "common/periodic_worker.hpp"
#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"

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
  worker_ = std::make_unique<detail::PeriodicWorker>(
      options_.interval, "waiting room runner pass",
      [this](const detail::PeriodicWorker& worker) { pass(worker); });
}

WaitingRoomRunner::~WaitingRoomRunner() {
  stop();
}

void WaitingRoomRunner::stop() {
  worker_->stop();
}

std::size_t WaitingRoomRunner::passes() const noexcept {
  return worker_->passes();
}

std::size_t WaitingRoomRunner::failures() const noexcept {
  return worker_->failures();
}

void WaitingRoomRunner::pass(const detail::PeriodicWorker& worker) {
  for (const auto& id : rooms_) {
    bool more_due = true;
    while (more_due && !worker.stopping()) {
      const AdvanceResult result = room_.advance(id);
      admitted_ += result.admitted;
      more_due = result.more_due;
    }
  }
}

}  // namespace flashsale
