#include "flashsale/sale_scheduler_runner.hpp"

#include <fmt/format.h>

#include <utility>

#include "common/option_checks.hpp"
#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/log.hpp"

namespace flashsale {

SaleSchedulerRunner::SaleSchedulerRunner(SaleScheduler& scheduler,
                                         std::vector<std::string> schedules,
                                         SaleSchedulerRunnerOptions options)
    : scheduler_(scheduler),
      schedules_(std::move(schedules)),
      options_(options),
      random_(std::random_device{}()) {
  if (schedules_.empty()) {
    throw InvalidArgument("a scheduler runner needs at least one schedule");
  }
  for (const auto& schedule : schedules_) {
    validate_key_id(schedule, "schedule id");
  }
  detail::OptionChecks("SaleSchedulerRunnerOptions")
      .at_least("poll_interval", options_.poll_interval, std::chrono::milliseconds{1})
      .between("poll_jitter", options_.poll_jitter, std::chrono::milliseconds{0},
               options_.poll_interval)
      .between("batch_size", options_.batch_size, std::size_t{1},
               scheduler_.options().max_promote_per_call);
  thread_.emplace([this](const PeriodicThread& thread) { promote_round(thread); },
                  [this] { return next_pause(); });
}

SaleSchedulerRunner::~SaleSchedulerRunner() {
  stop();
}

void SaleSchedulerRunner::stop() {
  thread_->stop();
}

std::chrono::milliseconds SaleSchedulerRunner::next_pause() {
  std::uniform_int_distribution<std::int64_t> jitter(-options_.poll_jitter.count(),
                                                     options_.poll_jitter.count());
  return options_.poll_interval + std::chrono::milliseconds(jitter(random_));
}

void SaleSchedulerRunner::promote_round(const PeriodicThread& thread) {
  try {
    for (const auto& schedule : schedules_) {
      bool more_due = true;
      while (more_due && !thread.stop_requested()) {
        const PromoteResult result = scheduler_.promote_due(schedule, options_.batch_size);
        ++calls_;
        promoted_ += result.promoted.size();
        more_due = result.more_due;
      }
    }
  } catch (const Error& error) {
    ++failures_;
    log_message(LogLevel::Warning,
                fmt::format("scheduler runner promotion failed: {}", error.what()));
  }
}

}  // namespace flashsale
