#include "flashsale/outbox_relay.hpp"

#include <algorithm>
#include <exception>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/option_checks.hpp"
#include "flashsale/error.hpp"
#include "flashsale/log.hpp"

namespace flashsale {

namespace {

void validate_options(const OutboxRelayOptions& options) {
  using std::chrono::milliseconds;
  detail::OptionChecks("OutboxRelayOptions")
      .at_least("batch_size", options.batch_size, std::size_t{1})
      .at_least("poll_interval", options.poll_interval, milliseconds{1})
      .at_least("backoff_base", options.backoff_base, milliseconds{1})
      .at_least("backoff_max", options.backoff_max, options.backoff_base)
      .require(options.jitter >= 0.0 && options.jitter <= 0.5, "jitter",
               "must be between 0 and 0.5", options.jitter)
      .at_least("max_attempts", options.max_attempts, 1);
}

}  // namespace

OutboxRelay::OutboxRelay(OutboxStore& store, OutboxPublisher& publisher, OutboxRelayOptions options)
    : store_(store), publisher_(publisher), options_(options), random_(std::random_device{}()) {
  validate_options(options_);
}

std::chrono::milliseconds OutboxRelay::backoff_delay(int attempt) {
  const auto base = options_.backoff_base.count();
  const auto max = options_.backoff_max.count();
  auto delay = base;
  for (int doubling = 1; doubling < attempt && delay < max; ++doubling) {
    delay *= 2;
  }
  delay = std::min(delay, max);
  std::uniform_real_distribution<double> fraction(0.0, options_.jitter);
  const auto shortened = static_cast<long long>(static_cast<double>(delay) * fraction(random_));
  return std::chrono::milliseconds(std::max<long long>(1, delay - shortened));
}

namespace {

// What a failed publish says, for the record's last_error.
std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& error) {
    std::string message = error.what();
    return message.empty() ? std::string("an exception without a message") : message;
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace

RelayReport OutboxRelay::relay_once() {
  const auto now = std::chrono::system_clock::now();
  const auto records = store_.fetch_due(options_.batch_size, now);
  RelayReport report;
  report.fetched = records.size();
  std::set<std::pair<std::string, std::string>> failed_aggregates;
  std::vector<std::int64_t> published;
  published.reserve(records.size());
  for (const auto& record : records) {
    auto aggregate = std::make_pair(record.aggregate_type, record.aggregate_id);
    if (failed_aggregates.count(aggregate) != 0) {
      ++report.held_back;
      continue;
    }
    std::string failure;
    try {
      publisher_.publish(record);
    } catch (...) {
      failure = describe_current_exception();
    }
    if (failure.empty()) {
      published.push_back(record.id);
      ++report.published;
      continue;
    }
    failed_aggregates.insert(std::move(aggregate));
    const int attempts = record.attempts + 1;
    if (attempts >= options_.max_attempts) {
      store_.mark_blocked(record.id, failure);
      ++report.blocked;
      log_message(LogLevel::Warning,
                  fmt::format("outbox record {} blocked after {} failed attempts: {}", record.id,
                              attempts, failure));
    } else {
      store_.mark_failed(record.id, failure, now + backoff_delay(attempts));
      ++report.failed;
    }
  }
  if (!published.empty()) {
    store_.mark_published_many(published);
  }
  return report;
}

bool OutboxRelay::wait_for(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mutex_);
  return stop_signal_.wait_for(lock, delay, [this] { return stop_requested_; });
}

void OutboxRelay::run() {
  int consecutive_store_failures = 0;
  while (true) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (stop_requested_) {
        return;
      }
    }
    std::chrono::milliseconds pause = options_.poll_interval;
    try {
      const auto report = relay_once();
      consecutive_store_failures = 0;
      if (report.fetched == options_.batch_size && report.published > 0) {
        pause = std::chrono::milliseconds(0);
      }
    } catch (...) {
      ++consecutive_store_failures;
      pause = backoff_delay(consecutive_store_failures);
      log_message(
          LogLevel::Warning,
          fmt::format("outbox relay pass failed ({} in a row), retrying in {} ms: {}",
                      consecutive_store_failures, pause.count(), describe_current_exception()));
    }
    if (wait_for(pause)) {
      return;
    }
  }
}

void OutboxRelay::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_requested_ = true;
  }
  stop_signal_.notify_all();
}

}  // namespace flashsale
