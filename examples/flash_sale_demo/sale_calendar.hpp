// The demo's sale calendar: the coupon window opening and the end of the hot
// deal are scheduled events (SaleScheduler), promoted by the server clock by
// a SaleSchedulerRunner and handled through a StreamConsumer.
//
//   coupon_open <coupon>  the users are told the coupon is open and rush
//   deal_end <scope>      expired holds are reclaimed, the scope is closed
//                         (end_sale) and its final figures are written back
//                         to SQLite; a redelivery writes the same figures
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "flashsale/metrics.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "sale_database.hpp"

namespace demo {

// Thread-safe. Stops its runner and consumer when destroyed.
class SaleCalendar {
 public:
  SaleCalendar(flashsale::Client& client, flashsale::StockReserver& reserver,
               SaleDatabase& database, std::string schedule);
  ~SaleCalendar();
  SaleCalendar(const SaleCalendar&) = delete;
  SaleCalendar& operator=(const SaleCalendar&) = delete;

  void schedule_coupon_opening(const std::string& coupon_id,
                               std::chrono::system_clock::time_point at);
  void schedule_deal_end(const std::string& scope, std::chrono::system_clock::time_point at);

  // Waits until the event was handled, the timeout passed or `interrupted`.
  bool wait_for_coupon_opening(std::chrono::milliseconds timeout,
                               const std::atomic<bool>& interrupted);
  // The figures end_sale returned (and SQLite now holds), once handled.
  std::optional<flashsale::StockSnapshot> wait_for_deal_end(std::chrono::milliseconds timeout,
                                                            const std::atomic<bool>& interrupted);

  // The schedule's figures: both events promoted once, their lateness.
  flashsale::SaleSchedulerStats stats();
  std::int64_t deal_end_handlings() const { return deal_end_handlings_.load(); }
  // The schedule's and its runner's figures, for the metrics registry; the
  // collector must be removed before the calendar goes away.
  flashsale::MetricsCollector metrics();
  void stop();

 private:
  flashsale::HandlerOutcome handle(const flashsale::StreamMessage& message);

  flashsale::StockReserver& reserver_;
  SaleDatabase& database_;
  std::string schedule_;
  flashsale::SaleScheduler scheduler_;
  flashsale::SaleSchedulerRunner runner_;
  flashsale::StreamConsumer consumer_;
  std::atomic<bool> coupon_open_{false};
  std::atomic<std::int64_t> deal_end_handlings_{0};
  std::mutex final_stock_mutex_;
  std::optional<flashsale::StockSnapshot> final_stock_;  // guarded by final_stock_mutex_
  std::thread consumer_thread_;
};

}  // namespace demo
