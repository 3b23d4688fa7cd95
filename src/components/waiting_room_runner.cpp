#include "flashsale/waiting_room_runner.hpp"

#include <fmt/format.h>

#include <utility>

#include "common/option_checks.hpp"
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
  detail::OptionChecks("WaitingRoomRunnerOptions")
      .at_least("interval", options_.interval, std::chrono::milliseconds{1});
  thread_.emplace([this](const PeriodicThread& thread) { pass(thread); },
                  [this] { return options_.interval; });
}

WaitingRoomRunner::~WaitingRoomRunner() {
  stop();
}

void WaitingRoomRunner::stop() {
  thread_->stop();
}

void WaitingRoomRunner::pass(const PeriodicThread& thread) {
  try {
    for (const auto& id : rooms_) {
      bool more_due = true;
      while (more_due) {
        if (thread.stop_requested()) {
          return;
        }
        const AdvanceResult result = room_.advance(id);
        admitted_ += result.admitted;
        more_due = result.more_due;
      }
    }
    ++passes_;
  } catch (const Error& error) {
    ++failures_;
    log_message(LogLevel::Warning,
                fmt::format("waiting room runner pass failed: {}", error.what()));
  }
}

}  // namespace flashsale
