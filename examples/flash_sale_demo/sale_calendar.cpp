#include "sale_calendar.hpp"

#include <fmt/format.h>

#include "flashsale/component_metrics.hpp"

#include <utility>

namespace demo {

namespace {

using namespace std::chrono_literals;

flashsale::StreamConsumerOptions consumer_options(const std::string& stream) {
  flashsale::StreamConsumerOptions options;
  options.streams = {stream};
  options.group = "sale-calendar";
  options.consumer = "demo-1";
  options.block_timeout = 100ms;
  return options;
}

// Polls `ready` every 20 ms until it holds, the timeout passes or `interrupted`.
template <typename Ready>
bool poll_until(Ready ready, std::chrono::milliseconds timeout,
                const std::atomic<bool>& interrupted) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= deadline || interrupted) {
      return ready();
    }
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

}  // namespace

SaleCalendar::SaleCalendar(flashsale::Client& client, flashsale::StockReserver& reserver,
                           SaleDatabase& database, std::string schedule)
    : reserver_(reserver),
      database_(database),
      schedule_(std::move(schedule)),
      scheduler_(client),
      runner_(scheduler_, {schedule_}, flashsale::SaleSchedulerRunnerOptions{50ms, 10ms, 100}),
      consumer_(client, consumer_options(scheduler_.stream(schedule_))),
      consumer_thread_([this] {
        consumer_.run([this](const flashsale::StreamMessage& message) { return handle(message); });
      }) {}

SaleCalendar::~SaleCalendar() {
  stop();
}

void SaleCalendar::stop() {
  consumer_.stop();
  if (consumer_thread_.joinable()) {
    consumer_thread_.join();
  }
  runner_.stop();
}

void SaleCalendar::schedule_coupon_opening(const std::string& coupon_id,
                                           std::chrono::system_clock::time_point at) {
  scheduler_.schedule(schedule_, "coupon-open:" + coupon_id, at, "coupon_open " + coupon_id);
}

void SaleCalendar::schedule_deal_end(const std::string& scope,
                                     std::chrono::system_clock::time_point at) {
  scheduler_.schedule(schedule_, "deal-end:" + scope, at, "deal_end " + scope);
}

flashsale::HandlerOutcome SaleCalendar::handle(const flashsale::StreamMessage& message) {
  const auto event = flashsale::parse_fired_event(message);
  const auto space = event.payload.find(' ');
  const std::string kind = event.payload.substr(0, space);
  const std::string target = space == std::string::npos ? "" : event.payload.substr(space + 1);
  if (kind == "coupon_open") {
    coupon_open_ = true;
  } else if (kind == "deal_end") {
    // Holds past their deadline give their stock back before the figures
    // are final; end_sale on a closed scope just reads them again.
    while (reserver_.reclaim_expired(target, reserver_.options().max_reclaim_per_call).more_due) {
    }
    auto final_stock = reserver_.end_sale(target);
    for (const auto& sku : final_stock.skus) {
      database_.record_stock_writeback(target, sku.sku, sku.initial, sku.available, sku.confirmed);
    }
    ++deal_end_handlings_;
    const std::lock_guard<std::mutex> lock(final_stock_mutex_);
    final_stock_ = std::move(final_stock);
  } else {
    return flashsale::HandlerOutcome::DeadLetter;
  }
  return flashsale::HandlerOutcome::Ack;
}

bool SaleCalendar::wait_for_coupon_opening(std::chrono::milliseconds timeout,
                                           const std::atomic<bool>& interrupted) {
  return poll_until([this] { return coupon_open_.load(); }, timeout, interrupted);
}

std::optional<flashsale::StockSnapshot> SaleCalendar::wait_for_deal_end(
    std::chrono::milliseconds timeout, const std::atomic<bool>& interrupted) {
  poll_until(
      [this] {
        const std::lock_guard<std::mutex> lock(final_stock_mutex_);
        return final_stock_.has_value();
      },
      timeout, interrupted);
  const std::lock_guard<std::mutex> lock(final_stock_mutex_);
  return final_stock_;
}

flashsale::SaleSchedulerStats SaleCalendar::stats() {
  return scheduler_.stats(schedule_);
}

flashsale::MetricsCollector SaleCalendar::metrics() {
  auto schedule = flashsale::scheduler_metrics(scheduler_, {schedule_});
  auto runner = flashsale::scheduler_runner_metrics(runner_, schedule_);
  return
      [schedule = std::move(schedule), runner = std::move(runner)](flashsale::MetricsWriter& out) {
        schedule(out);
        runner(out);
      };
}

}  // namespace demo
