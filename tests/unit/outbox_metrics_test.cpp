// The outbox collector over SqliteOutboxStore::counts(): backlog, blocked
// records and relay lag, read on scrape.
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "../redis/outbox_test_support.hpp"
#include "catch.hpp"
#include "flashsale/component_metrics.hpp"
#include "flashsale/error.hpp"
#include "flashsale/metrics.hpp"
#include "flashsale/sqlite_outbox_store.hpp"

using namespace std::chrono_literals;
using flashsale::MetricLabels;
using flashsale::MetricsRegistry;
using flashsale::SqliteOutboxStore;
using flashsale::testing::HostDatabase;
using flashsale::testing::TemporaryDirectory;

namespace {

std::optional<double> value_of(MetricsRegistry& registry, const std::string& name,
                               const MetricLabels& labels) {
  for (const auto& family : registry.collect()) {
    for (const auto& sample : family.samples) {
      if (family.name == name && sample.labels == labels) {
        return sample.value;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE(
    "the outbox collector reports pending and blocked records and the age of the oldest "
    "pending one",
    "[outbox][metrics]") {
  TemporaryDirectory directory;
  SqliteOutboxStore store(directory.file("app.db"));
  HostDatabase host(directory.file("app.db"));
  MetricsRegistry registry;
  registry.add_collector("orders", flashsale::outbox_metrics("orders", [&store] {
                           const auto counts = store.counts();
                           return flashsale::OutboxFigures{counts.pending, counts.blocked,
                                                           counts.oldest_pending_created_at};
                         }));
  const MetricLabels labels{{"outbox", "orders"}};

  CHECK(value_of(registry, "flashsale_outbox_pending_records", labels) == 0);
  CHECK(value_of(registry, "flashsale_outbox_relay_lag_seconds", labels) == 0);
  CHECK_FALSE(store.counts().oldest_pending_created_at.has_value());

  const auto before = std::chrono::system_clock::now();
  const auto first = host.place_order("A", "a1");
  host.place_order("B", "b1");
  const auto third = host.place_order("C", "c1");
  std::this_thread::sleep_for(50ms);
  const auto oldest = store.counts().oldest_pending_created_at;
  REQUIRE(oldest.has_value());
  CHECK(*oldest >= before - 1ms);
  CHECK(value_of(registry, "flashsale_outbox_pending_records", labels) == 3);
  const auto lag = value_of(registry, "flashsale_outbox_relay_lag_seconds", labels);
  REQUIRE(lag.has_value());
  CHECK(*lag >= 0.04);

  store.mark_published(first);
  store.mark_blocked(third, "broker down");
  CHECK(value_of(registry, "flashsale_outbox_pending_records", labels) == 1);
  CHECK(value_of(registry, "flashsale_outbox_blocked_records", labels) == 1);
}
