// Metrics of the components, read on scrape from the state Redis (or the
// component) already holds: each function returns a collector for
// MetricsRegistry::add_collector, e.g.
//
//   registry.add_collector("coupons", coupon_metrics(issuer, {"summer-sale"}));
//
// Cost per scrape (bounded, never on the hot path): coupons one script call
// per coupon; stock two script calls per scope (O(SKUs) and O(log holds));
// a stream consumer StreamConsumer::stats() (two commands per stream plus
// TIME); a schedule SaleScheduler::stats() and a room WaitingRoom::stats()
// (one script each); a hold reaper or runner nothing (its own counters); an
// outbox whatever the host's read function costs.
//
// Lifetime: the component passed in (and its client) must outlive the
// registration: call remove_collector() before destroying it.
//
// Errors: the functions throw InvalidArgument for ids that could not be
// part of a key (checked once, here); a collector that fails on scrape
// (Redis down) is counted by the registry and its figures left out.
//
// Other components plug in the same way: a MetricsCollector that writes its
// figures with MetricsWriter.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "flashsale/coupon_issuer.hpp"
#include "flashsale/export.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/metrics.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "flashsale/waiting_room.hpp"
#include "flashsale/waiting_room_runner.hpp"

namespace flashsale {

// Per coupon (label coupon): flashsale_coupon_total, flashsale_coupon_issued,
// flashsale_coupon_remaining (gauges: units), flashsale_coupon_revoked_total.
// A coupon not registered (yet) reports nothing.
FLASHSALE_EXPORT MetricsCollector coupon_metrics(FirstComeCouponIssuer& issuer,
                                                 std::vector<std::string> coupon_ids);

// Per scope (label scope, and sku for units): flashsale_stock_available,
// flashsale_stock_held, flashsale_stock_confirmed (units per SKU),
// flashsale_stock_active_holds, flashsale_stock_expired_holds (deadline
// passed, not yet reclaimed), flashsale_stock_reclaim_lateness_seconds
// (server time minus the oldest such deadline; 0 when none) and
// flashsale_stock_sale_open (1 open, 0 closed). A scope not loaded reports
// only flashsale_stock_sale_open 0.
FLASHSALE_EXPORT MetricsCollector stock_metrics(StockReserver& reserver,
                                                std::vector<std::string> scopes);

// Label reaper=`name`: flashsale_hold_reaper_sweeps_total,
// flashsale_hold_reaper_reclaimed_holds_total,
// flashsale_hold_reaper_failed_sweeps_total (the reaper's own counters).
FLASHSALE_EXPORT MetricsCollector hold_reaper_metrics(const HoldReaper& reaper, std::string name);

// Labels stream (the consumer's streams joined with ","), group, consumer:
// flashsale_stream_pending_entries, flashsale_stream_lag_entries (left out
// when Redis cannot tell, never a made-up 0),
// flashsale_stream_oldest_pending_age_seconds (left out when none pending),
// and this consumer's flashsale_stream_delivered_total, _acked_total,
// _retried_total, _reclaimed_total, _dead_lettered_total.
FLASHSALE_EXPORT MetricsCollector stream_consumer_metrics(StreamConsumer& consumer);

// What an outbox store can say about its backlog; the host reads it from its
// store (SqliteOutboxStore::counts() has these).
struct OutboxFigures {
  std::int64_t pending = 0;  // not yet published, blocked ones excluded
  std::int64_t blocked = 0;
  // Creation time of the oldest pending record; nullopt when none.
  std::optional<std::chrono::system_clock::time_point> oldest_pending_created_at;
};

// Label outbox=`name`: flashsale_outbox_pending_records,
// flashsale_outbox_blocked_records, flashsale_outbox_relay_lag_seconds (age
// of the oldest pending record by this host's clock; 0 when none pending).
FLASHSALE_EXPORT MetricsCollector outbox_metrics(std::string name,
                                                 std::function<OutboxFigures()> read);

// Per schedule (label schedule): flashsale_scheduler_pending_events,
// flashsale_scheduler_overdue_events (due by the server clock, not yet
// promoted), flashsale_scheduler_oldest_overdue_age_seconds (0 when none is
// overdue), flashsale_scheduler_promoted_total,
// flashsale_scheduler_cancelled_total, and the lateness (promoted_at -
// due_at) over every promotion: flashsale_scheduler_lateness_seconds with
// quantile="0.5" | "0.99" (from SaleScheduler's histogram, at most 1/16 too
// high) and flashsale_scheduler_lateness_max_seconds, left out before the
// first promotion.
FLASHSALE_EXPORT MetricsCollector scheduler_metrics(SaleScheduler& scheduler,
                                                    std::vector<std::string> schedules);

// Label runner=`name`: flashsale_scheduler_runner_calls_total (that succeeded),
// flashsale_scheduler_runner_promoted_total,
// flashsale_scheduler_runner_failures_total (the runner's own counters).
FLASHSALE_EXPORT MetricsCollector scheduler_runner_metrics(const SaleSchedulerRunner& runner,
                                                           std::string name);

// Per room (label room): flashsale_waiting_room_waiting_visitors,
// flashsale_waiting_room_active_visitors (admitted; both include visitors
// no call has dropped or expired yet), flashsale_waiting_room_tickets_total,
// flashsale_waiting_room_admitted_total, _abandoned_total, _expired_total,
// _completed_total, _left_total, and
// flashsale_waiting_room_admission_rate_per_second (measured; left out until
// the room has measured 1 s).
FLASHSALE_EXPORT MetricsCollector waiting_room_metrics(WaitingRoom& room,
                                                       std::vector<std::string> rooms);

// Label runner=`name`: flashsale_waiting_room_runner_passes_total,
// flashsale_waiting_room_runner_admitted_total,
// flashsale_waiting_room_runner_failures_total (the runner's own counters).
FLASHSALE_EXPORT MetricsCollector waiting_room_runner_metrics(const WaitingRoomRunner& runner,
                                                              std::string name);

// ranking.refresh(), timed: flashsale_ranking_refresh_duration_seconds
// (histogram) and flashsale_ranking_refreshes_total{status}, both labelled
// ranking and mode (union | incremental). Returns what refresh() returned;
// a refresh that throws is timed and counted with status="error", then
// rethrown.
FLASHSALE_EXPORT RefreshResult refresh_with_metrics(SlidingWindowRanking& ranking,
                                                    MetricsRegistry& registry);

}  // namespace flashsale
