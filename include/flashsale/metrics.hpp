// Metrics: counters, gauges and fixed-bucket histograms in a registry, read
// by the host on scrape, rendered in the Prometheus text format (version
// 0.0.4) or handed to a visitor that forwards them to any other system.
// There is no HTTP server in the library: the host serves render_prometheus()
// wherever it likes (see examples/flash_sale_demo/metrics_endpoint.cpp).
//
// Two kinds of figures:
//  - Instruments (Counter, Gauge, Histogram) that code updates as it runs,
//    e.g. the transport's calls and latencies (ConnectionOptions::metrics).
//    Updates are lock-free and striped per thread: a Counter::inc is one
//    relaxed atomic add on a cache line that few threads share.
//  - Collectors: callbacks that run on every scrape and report figures read
//    from their source at that moment, e.g. a coupon's issued count read from
//    Redis (component_metrics.hpp). Their cost is paid by the scrape, never
//    by the hot path.
//
// Naming (Prometheus conventions): `flashsale_` prefix, base units
// (`_seconds`, `_bytes`), counters end in `_total`. Labels name what the
// figure is about: component, coupon, scope, sku, stream, ranking, script...
//
// Thread-safety: everything here may be used by any number of threads. The
// references counter()/gauge()/histogram() return stay valid as long as the
// registry lives; keep them to skip the lookup on the hot path.
//
// Errors: InvalidArgument for a malformed metric or label name, a label
// listed twice, histogram bounds that are not finite and strictly
// increasing, or a name registered again with another type, help text or
// buckets.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flashsale/export.hpp"

namespace flashsale {

// Label name → value pairs, in the order given (rendered in that order).
// Values may hold any bytes; the text format escapes \, " and newline.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { Counter, Gauge, Histogram };

// "counter", "gauge" or "histogram": the word of a `# TYPE` line.
FLASHSALE_EXPORT const char* metric_type_name(MetricType type) noexcept;

// Histogram figures: counts per bucket are cumulative (observations <= the
// bound), the +Inf bucket is `count`.
struct HistogramData {
  std::vector<double> upper_bounds;
  std::vector<std::uint64_t> cumulative_counts;  // one per upper bound
  std::uint64_t count = 0;
  double sum = 0;
};

// One series of a family: a counter's or gauge's value, or a histogram.
struct MetricSample {
  MetricLabels labels;
  double value = 0;         // Counter, Gauge
  HistogramData histogram;  // Histogram
};

// All series of one metric name, as one scrape saw them.
struct MetricFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::Gauge;
  std::vector<MetricSample> samples;
};

namespace metrics_detail {
// Updates of one instrument are spread over this many cache lines, picked
// per thread, so threads rarely write the same line.
inline constexpr std::size_t kStripes = 16;
struct alignas(64) PaddedCount {
  std::atomic<std::uint64_t> value{0};
};
FLASHSALE_EXPORT std::size_t stripe_of_this_thread() noexcept;
}  // namespace metrics_detail

// A monotonically increasing count. inc() is lock-free.
class FLASHSALE_EXPORT Counter {
 public:
  void inc(std::uint64_t amount = 1) noexcept {
    stripes_[metrics_detail::stripe_of_this_thread()].value.fetch_add(amount,
                                                                      std::memory_order_relaxed);
  }
  // The sum of all increments so far (concurrent increments may or may not
  // be included).
  std::uint64_t value() const noexcept;

 private:
  std::array<metrics_detail::PaddedCount, metrics_detail::kStripes> stripes_{};
};

// A value that goes up and down. set() and add() are lock-free.
class FLASHSALE_EXPORT Gauge {
 public:
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void add(double delta) noexcept;
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets, plus their count and sum.
// observe() is lock-free: a bucket search over the bounds and two relaxed
// atomic adds on this thread's stripe (the sum is a compare-exchange loop
// that almost never repeats, as few threads share a stripe).
class FLASHSALE_EXPORT Histogram {
 public:
  // Bounds must be finite and strictly increasing (InvalidArgument).
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double value) noexcept;
  // Observes a duration in seconds.
  template <typename Rep, typename Period>
  void observe(std::chrono::duration<Rep, Period> duration) noexcept {
    observe(std::chrono::duration<double>(duration).count());
  }

  const std::vector<double>& upper_bounds() const noexcept { return upper_bounds_; }
  HistogramData data() const;

 private:
  struct alignas(64) Stripe {
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets;  // bounds + 1 (+Inf)
    std::atomic<double> sum{0};
  };
  std::vector<double> upper_bounds_;
  std::array<Stripe, metrics_detail::kStripes> stripes_;
};

// Bucket bounds in seconds for Redis round trips: 50 µs .. 10 s.
FLASHSALE_EXPORT const std::vector<double>& default_latency_buckets();

// What a collector writes: one value per series. A series written twice in
// one scrape, or a name written with two types or help texts, throws
// InvalidArgument (the collector's figures are then dropped, see add_collector).
class FLASHSALE_EXPORT MetricsWriter {
 public:
  void gauge(std::string_view name, std::string_view help, MetricLabels labels, double value);
  // A count the source keeps itself (e.g. a component's own counter); it
  // must only grow, or Prometheus reads a reset.
  void counter(std::string_view name, std::string_view help, MetricLabels labels, double value);

  // The families written so far, in the order first written.
  const std::vector<MetricFamily>& families() const noexcept { return families_; }
  std::vector<MetricFamily> take() noexcept { return std::move(families_); }

 private:
  void add(std::string_view name, std::string_view help, MetricType type, MetricLabels labels,
           double value);
  std::vector<MetricFamily> families_;
};

// Runs on every scrape and writes the figures it reads. It may block (e.g. a
// Redis read): keep it bounded, it delays the scrape.
using MetricsCollector = std::function<void(MetricsWriter&)>;

class FLASHSALE_EXPORT MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The instrument of this name and labels, created on first use. Asking
  // again with the same name and labels returns the same instrument; the
  // help text (and buckets) must match the first registration.
  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help,
                       const std::vector<double>& upper_bounds, const MetricLabels& labels = {});

  using CollectorId = std::uint64_t;
  // Registers a collector under `name` (a label value: any bytes; unique
  // within the registry, else InvalidArgument). When it throws, its figures of that scrape are
  // dropped, flashsale_metrics_collector_errors_total{collector=name} counts it and the rest of the
  // scrape goes on; flashsale_metrics_collector_duration_seconds reports how long each collector
  // took on the latest scrape.
  CollectorId add_collector(std::string name, MetricsCollector collector);
  // Once it returns, the collector is not running and never runs again, so
  // what it captured may be destroyed. Unknown ids are ignored. Must not be
  // called from inside a collector.
  void remove_collector(CollectorId id);

  // Every family (instruments and collectors), sorted by name; series in
  // the order first created or written. Scrapes run one at a time.
  std::vector<MetricFamily> collect();
  // collect(), handed to `visitor` one family at a time: the interface to
  // forward the figures to another system (StatsD, OpenTelemetry, logs).
  void visit(const std::function<void(const MetricFamily&)>& visitor);

 private:
  struct Series;
  struct Family;
  struct CollectorEntry;
  Family& family(std::string_view name, std::string_view help, MetricType type,
                 const std::vector<double>* upper_bounds);
  Series& series(Family& family, const MetricLabels& labels);

  std::mutex mutex_;  // guards families_ and the collector list
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
  std::vector<std::shared_ptr<CollectorEntry>> collectors_;
  CollectorId next_collector_id_ = 1;
  std::mutex scrape_mutex_;  // one scrape at a time; held while collectors run
};

// The families in the Prometheus text format 0.0.4 (Content-Type
// "text/plain; version=0.0.4; charset=utf-8"): `# HELP` and `# TYPE` per
// family, histograms as cumulative `_bucket{le=...}` series ending with
// le="+Inf", then `_sum` and `_count`.
FLASHSALE_EXPORT std::string render_prometheus(const std::vector<MetricFamily>& families);
// render_prometheus(registry.collect()).
FLASHSALE_EXPORT std::string render_prometheus(MetricsRegistry& registry);

// The Content-Type to serve render_prometheus() with.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace flashsale
