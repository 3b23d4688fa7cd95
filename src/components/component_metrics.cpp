#include "flashsale/component_metrics.hpp"

#include <algorithm>
#include <utility>

#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"

namespace flashsale {

namespace {

void validate_ids(const std::vector<std::string>& ids, std::string_view what) {
  for (const auto& id : ids) {
    validate_key_id(id, what);
  }
}

double seconds(std::chrono::milliseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

}  // namespace

MetricsCollector coupon_metrics(FirstComeCouponIssuer& issuer,
                                std::vector<std::string> coupon_ids) {
  validate_ids(coupon_ids, "coupon id");
  return [&issuer, ids = std::move(coupon_ids)](MetricsWriter& out) {
    for (const auto& id : ids) {
      const auto stats = issuer.stats(id);
      if (!stats) {
        continue;
      }
      const MetricLabels labels{{"coupon", id}};
      out.gauge("flashsale_coupon_total", "Units of the coupon (its registered total).", labels,
                static_cast<double>(stats->total));
      out.gauge("flashsale_coupon_issued", "Units held by users now (issues minus revokes).",
                labels, static_cast<double>(stats->issued));
      out.gauge("flashsale_coupon_remaining", "Units left to issue.", labels,
                static_cast<double>(stats->remaining));
      out.counter("flashsale_coupon_revoked_total", "Issues revoked (compensations).", labels,
                  static_cast<double>(stats->revoked));
    }
  };
}

MetricsCollector stock_metrics(StockReserver& reserver, std::vector<std::string> scopes) {
  validate_ids(scopes, "stock scope");
  return [&reserver, scopes = std::move(scopes)](MetricsWriter& out) {
    for (const auto& scope : scopes) {
      const StockSnapshot snapshot = reserver.snapshot(scope);
      const MetricLabels labels{{"scope", scope}};
      out.gauge("flashsale_stock_sale_open", "1 while the scope's sale is open, else 0.", labels,
                snapshot.state == SaleState::Open ? 1 : 0);
      if (snapshot.state == SaleState::NotLoaded) {
        continue;
      }
      for (const auto& sku : snapshot.skus) {
        const MetricLabels sku_labels{{"scope", scope}, {"sku", sku.sku}};
        out.gauge("flashsale_stock_available", "Units free to reserve.", sku_labels,
                  static_cast<double>(sku.available));
        out.gauge("flashsale_stock_held", "Units in holds not yet confirmed, released or expired.",
                  sku_labels, static_cast<double>(sku.held));
        out.gauge("flashsale_stock_confirmed", "Units sold (confirmed holds).", sku_labels,
                  static_cast<double>(sku.confirmed));
      }
      out.gauge("flashsale_stock_active_holds",
                "Holds not yet confirmed, released or reclaimed (including expired ones).", labels,
                static_cast<double>(snapshot.active_holds));
      const HoldExpiry expiry = reserver.hold_expiry(scope);
      out.gauge("flashsale_stock_expired_holds",
                "Holds past their deadline that no call has reclaimed yet.", labels,
                static_cast<double>(expiry.expired_holds));
      out.gauge("flashsale_stock_reclaim_lateness_seconds",
                "How long the oldest expired, unreclaimed hold has been overdue (0 when none).",
                labels, seconds(expiry.oldest_overdue));
    }
  };
}

MetricsCollector hold_reaper_metrics(const HoldReaper& reaper, std::string name) {
  return [&reaper, name = std::move(name)](MetricsWriter& out) {
    const MetricLabels labels{{"reaper", name}};
    out.counter("flashsale_hold_reaper_sweeps_total", "Sweeps over all the reaper's scopes.",
                labels, static_cast<double>(reaper.sweeps()));
    out.counter("flashsale_hold_reaper_reclaimed_holds_total",
                "Expired holds the reaper reclaimed.", labels,
                static_cast<double>(reaper.reclaimed()));
    out.counter("flashsale_hold_reaper_failed_sweeps_total",
                "Sweeps that failed (e.g. Redis unreachable) and were retried later.", labels,
                static_cast<double>(reaper.failures()));
  };
}

MetricsCollector stream_consumer_metrics(StreamConsumer& consumer) {
  std::string streams;
  for (const auto& stream : consumer.options().streams) {
    streams += streams.empty() ? stream : "," + stream;
  }
  MetricLabels labels{{"stream", streams},
                      {"group", consumer.options().group},
                      {"consumer", consumer.options().consumer}};
  return [&consumer, labels = std::move(labels)](MetricsWriter& out) {
    const StreamConsumerStats stats = consumer.stats();
    out.gauge("flashsale_stream_pending_entries",
              "Entries delivered to the group and not yet acknowledged (XPENDING).", labels,
              static_cast<double>(stats.pending));
    if (stats.lag) {
      out.gauge("flashsale_stream_lag_entries",
                "Entries not yet delivered to the group (absent when Redis cannot tell).", labels,
                static_cast<double>(*stats.lag));
    }
    if (stats.oldest_pending_age) {
      out.gauge("flashsale_stream_oldest_pending_age_seconds",
                "Age of the group's oldest pending entry by the server clock.", labels,
                seconds(*stats.oldest_pending_age));
    }
    out.counter("flashsale_stream_delivered_total", "Entries handed to this consumer.", labels,
                static_cast<double>(stats.delivered));
    out.counter("flashsale_stream_acked_total", "Entries this consumer acknowledged.", labels,
                static_cast<double>(stats.acked));
    out.counter("flashsale_stream_retried_total", "Handler failures left pending for a retry.",
                labels, static_cast<double>(stats.retried));
    out.counter("flashsale_stream_reclaimed_total", "Entries taken over from idle consumers.",
                labels, static_cast<double>(stats.reclaimed));
    out.counter("flashsale_stream_dead_lettered_total", "Entries moved to a dead-letter stream.",
                labels, static_cast<double>(stats.dead_lettered));
  };
}

MetricsCollector outbox_metrics(std::string name, std::function<OutboxFigures()> read) {
  if (!read) {
    throw InvalidArgument("outbox_metrics: empty read function");
  }
  return [name = std::move(name), read = std::move(read)](MetricsWriter& out) {
    const OutboxFigures figures = read();
    const MetricLabels labels{{"outbox", name}};
    out.gauge("flashsale_outbox_pending_records", "Outbox records not yet published.", labels,
              static_cast<double>(figures.pending));
    out.gauge("flashsale_outbox_blocked_records",
              "Outbox records the relay gave up on, waiting for unblock().", labels,
              static_cast<double>(figures.blocked));
    double lag = 0;
    if (figures.oldest_pending_created_at) {
      lag = std::max(0.0, std::chrono::duration<double>(std::chrono::system_clock::now() -
                                                        *figures.oldest_pending_created_at)
                              .count());
    }
    out.gauge("flashsale_outbox_relay_lag_seconds",
              "Age of the oldest pending outbox record (0 when none).", labels, lag);
  };
}

MetricsCollector scheduler_metrics(SaleScheduler& scheduler, std::vector<std::string> schedules) {
  validate_ids(schedules, "schedule");
  return [&scheduler, schedules = std::move(schedules)](MetricsWriter& out) {
    for (const auto& schedule : schedules) {
      const SaleSchedulerStats stats = scheduler.stats(schedule);
      const MetricLabels labels{{"schedule", schedule}};
      out.gauge("flashsale_scheduler_pending_events", "Events waiting, due or not.", labels,
                static_cast<double>(stats.pending));
      out.gauge("flashsale_scheduler_overdue_events",
                "Pending events whose time has come by the server clock.", labels,
                static_cast<double>(stats.overdue));
      out.gauge("flashsale_scheduler_oldest_overdue_age_seconds",
                "How long the oldest overdue event has waited (0 when none is overdue).", labels,
                seconds(stats.oldest_overdue_age.value_or(std::chrono::milliseconds{0})));
      out.counter("flashsale_scheduler_promoted_total", "Events promoted into the stream.", labels,
                  static_cast<double>(stats.promoted));
      out.counter("flashsale_scheduler_cancelled_total", "Events cancelled before they fired.",
                  labels, static_cast<double>(stats.cancelled));
      constexpr std::string_view kLatenessHelp =
          "Lateness of promotions (promoted_at - due_at, server clock) over the schedule's life.";
      if (stats.lateness_p50) {
        out.gauge("flashsale_scheduler_lateness_seconds", kLatenessHelp,
                  {{"schedule", schedule}, {"quantile", "0.5"}}, seconds(*stats.lateness_p50));
      }
      if (stats.lateness_p99) {
        out.gauge("flashsale_scheduler_lateness_seconds", kLatenessHelp,
                  {{"schedule", schedule}, {"quantile", "0.99"}}, seconds(*stats.lateness_p99));
      }
      if (stats.lateness_max) {
        out.gauge("flashsale_scheduler_lateness_max_seconds",
                  "Largest lateness of a promotion over the schedule's life.", labels,
                  seconds(*stats.lateness_max));
      }
    }
  };
}

MetricsCollector scheduler_runner_metrics(const SaleSchedulerRunner& runner, std::string name) {
  return [&runner, name = std::move(name)](MetricsWriter& out) {
    const MetricLabels labels{{"runner", name}};
    out.counter("flashsale_scheduler_runner_calls_total",
                "promote_due() calls of the runner that succeeded.", labels,
                static_cast<double>(runner.calls()));
    out.counter("flashsale_scheduler_runner_promoted_total", "Events the runner promoted.", labels,
                static_cast<double>(runner.promoted()));
    out.counter("flashsale_scheduler_runner_failures_total",
                "Runner calls that failed (e.g. Redis unreachable) and were retried later.", labels,
                static_cast<double>(runner.failures()));
  };
}

MetricsCollector waiting_room_metrics(WaitingRoom& room, std::vector<std::string> rooms) {
  validate_ids(rooms, "waiting room");
  return [&room, rooms = std::move(rooms)](MetricsWriter& out) {
    for (const auto& id : rooms) {
      const RoomStats stats = room.stats(id);
      const MetricLabels labels{{"room", id}};
      out.gauge("flashsale_waiting_room_waiting_visitors",
                "Visitors waiting (including abandoned ones not yet dropped).", labels,
                static_cast<double>(stats.waiting));
      out.gauge("flashsale_waiting_room_active_visitors",
                "Visitors admitted (including expired admissions not yet expired).", labels,
                static_cast<double>(stats.active));
      out.counter("flashsale_waiting_room_tickets_total", "Places drawn since the room began.",
                  labels, static_cast<double>(stats.tickets));
      out.counter("flashsale_waiting_room_admitted_total", "Visitors admitted.", labels,
                  static_cast<double>(stats.admitted_total));
      out.counter("flashsale_waiting_room_abandoned_total",
                  "Waiting visitors dropped for a missed heartbeat.", labels,
                  static_cast<double>(stats.abandoned_total));
      out.counter("flashsale_waiting_room_expired_total", "Admissions whose token TTL passed.",
                  labels, static_cast<double>(stats.expired_total));
      out.counter("flashsale_waiting_room_completed_total", "Admitted visitors that completed.",
                  labels, static_cast<double>(stats.completed_total));
      out.counter("flashsale_waiting_room_left_total", "Visitors that left, waiting or admitted.",
                  labels, static_cast<double>(stats.left_total));
      if (stats.measured_rate_per_second) {
        out.gauge("flashsale_waiting_room_admission_rate_per_second",
                  "Admissions per second, as the room measured them lately.", labels,
                  *stats.measured_rate_per_second);
      }
    }
  };
}

MetricsCollector waiting_room_runner_metrics(const WaitingRoomRunner& runner, std::string name) {
  return [&runner, name = std::move(name)](MetricsWriter& out) {
    const MetricLabels labels{{"runner", name}};
    out.counter("flashsale_waiting_room_runner_passes_total",
                "Passes of the runner over all its rooms that finished.", labels,
                static_cast<double>(runner.passes()));
    out.counter("flashsale_waiting_room_runner_admitted_total", "Visitors the runner admitted.",
                labels, static_cast<double>(runner.admitted()));
    out.counter("flashsale_waiting_room_runner_failures_total",
                "Runner passes that failed (e.g. Redis unreachable) and were retried later.",
                labels, static_cast<double>(runner.failures()));
  };
}

RefreshResult refresh_with_metrics(SlidingWindowRanking& ranking, MetricsRegistry& registry) {
  const std::string mode = ranking.options().mode == RankingMode::Union ? "union" : "incremental";
  const std::string& name = ranking.options().name;
  Histogram& duration = registry.histogram(
      "flashsale_ranking_refresh_duration_seconds", "Duration of ranking refreshes.",
      default_latency_buckets(), {{"ranking", name}, {"mode", mode}});
  const auto count = [&](const char* status) {
    registry
        .counter("flashsale_ranking_refreshes_total", "Ranking refreshes by outcome.",
                 {{"ranking", name}, {"mode", mode}, {"status", status}})
        .inc();
  };
  const auto started = std::chrono::steady_clock::now();
  try {
    const RefreshResult result = ranking.refresh();
    duration.observe(std::chrono::steady_clock::now() - started);
    count(result.status == RefreshStatus::Refreshed   ? "refreshed"
          : result.status == RefreshStatus::Unchanged ? "unchanged"
                                                      : "rebuilt");
    return result;
  } catch (...) {
    duration.observe(std::chrono::steady_clock::now() - started);
    count("error");
    throw;
  }
}

}  // namespace flashsale
