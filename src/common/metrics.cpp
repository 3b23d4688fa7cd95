#include "flashsale/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include <fmt/format.h>

#include "flashsale/error.hpp"
#include "flashsale/log.hpp"

namespace flashsale {

namespace metrics_detail {

std::size_t stripe_of_this_thread() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t stripe = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return stripe;
}

}  // namespace metrics_detail

namespace {

bool is_name_start(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon_allowed && c == ':');
}

bool is_name_char(char c, bool colon_allowed) {
  return is_name_start(c, colon_allowed) || (c >= '0' && c <= '9');
}

bool is_valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty() || !is_name_start(name.front(), colon_allowed)) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return is_name_char(c, colon_allowed); });
}

void validate_metric_name(std::string_view name) {
  if (!is_valid_name(name, true)) {
    throw InvalidArgument(
        fmt::format("metric name '{}' does not match [a-zA-Z_:][a-zA-Z0-9_:]*", name));
  }
}

void validate_labels(std::string_view metric, const MetricLabels& labels, MetricType type) {
  for (std::size_t index = 0; index < labels.size(); ++index) {
    const std::string& label = labels[index].first;
    if (!is_valid_name(label, false) || label.rfind("__", 0) == 0) {
      throw InvalidArgument(fmt::format(
          "label name '{}' of {} does not match [a-zA-Z_][a-zA-Z0-9_]* or starts with __", label,
          metric));
    }
    if (type == MetricType::Histogram && label == "le") {
      throw InvalidArgument(fmt::format("histogram {} must not have a label 'le'", metric));
    }
    for (std::size_t other = 0; other < index; ++other) {
      if (labels[other].first == label) {
        throw InvalidArgument(fmt::format("label '{}' listed twice for {}", label, metric));
      }
    }
  }
}

void validate_bounds(const std::vector<double>& bounds) {
  for (std::size_t index = 0; index < bounds.size(); ++index) {
    if (!std::isfinite(bounds[index]) || (index > 0 && bounds[index] <= bounds[index - 1])) {
      throw InvalidArgument("histogram bounds must be finite and strictly increasing");
    }
  }
}

void add_to(std::atomic<double>& target, double delta) noexcept {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

}  // namespace

const char* metric_type_name(MetricType type) noexcept {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

std::uint64_t Counter::value() const noexcept {
  std::uint64_t total = 0;
  for (const auto& stripe : stripes_) {
    total += stripe.value.load(std::memory_order_relaxed);
  }
  return total;
}

void Gauge::add(double delta) noexcept {
  add_to(value_, delta);
}

Histogram::Histogram(std::vector<double> upper_bounds) : upper_bounds_(std::move(upper_bounds)) {
  validate_bounds(upper_bounds_);
  for (auto& stripe : stripes_) {
    stripe.buckets = std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds_.size() + 1);
  }
}

void Histogram::observe(double value) noexcept {
  // A NaN lands in +Inf and poisons the sum, as Prometheus clients do.
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  Stripe& stripe = stripes_[metrics_detail::stripe_of_this_thread()];
  stripe.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  add_to(stripe.sum, value);
}

HistogramData Histogram::data() const {
  HistogramData data;
  data.upper_bounds = upper_bounds_;
  std::vector<std::uint64_t> per_bucket(upper_bounds_.size() + 1, 0);
  for (const auto& stripe : stripes_) {
    for (std::size_t index = 0; index < per_bucket.size(); ++index) {
      per_bucket[index] += stripe.buckets[index].load(std::memory_order_relaxed);
    }
    data.sum += stripe.sum.load(std::memory_order_relaxed);
  }
  std::uint64_t running = 0;
  data.cumulative_counts.reserve(upper_bounds_.size());
  for (std::size_t index = 0; index < upper_bounds_.size(); ++index) {
    running += per_bucket[index];
    data.cumulative_counts.push_back(running);
  }
  data.count = running + per_bucket.back();
  return data;
}

const std::vector<double>& default_latency_buckets() {
  static const std::vector<double> buckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                           0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                           0.5,     1,      2.5,     5,      10};
  return buckets;
}

// --- MetricsWriter ---------------------------------------------------------------

void MetricsWriter::gauge(std::string_view name, std::string_view help, MetricLabels labels,
                          double value) {
  add(name, help, MetricType::Gauge, std::move(labels), value);
}

void MetricsWriter::counter(std::string_view name, std::string_view help, MetricLabels labels,
                            double value) {
  add(name, help, MetricType::Counter, std::move(labels), value);
}

void MetricsWriter::add(std::string_view name, std::string_view help, MetricType type,
                        MetricLabels labels, double value) {
  validate_metric_name(name);
  validate_labels(name, labels, type);
  auto family = std::find_if(families_.begin(), families_.end(),
                             [&](const MetricFamily& candidate) { return candidate.name == name; });
  if (family == families_.end()) {
    families_.push_back(MetricFamily{std::string(name), std::string(help), type, {}});
    family = std::prev(families_.end());
  } else if (family->type != type || family->help != help) {
    throw InvalidArgument(
        fmt::format("metric {} written with two types or help texts in one scrape", name));
  }
  for (const auto& sample : family->samples) {
    if (sample.labels == labels) {
      throw InvalidArgument(fmt::format("series of {} written twice in one scrape", name));
    }
  }
  MetricSample sample;
  sample.labels = std::move(labels);
  sample.value = value;
  family->samples.push_back(std::move(sample));
}

// --- MetricsRegistry ---------------------------------------------------------------

struct MetricsRegistry::Series {
  MetricLabels labels;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::Gauge;
  std::vector<double> upper_bounds;
  std::vector<std::unique_ptr<Series>> series;
};

struct MetricsRegistry::CollectorEntry {
  CollectorId id = 0;
  std::string name;
  MetricsCollector collector;
  Counter errors;
  std::atomic<double> last_duration_seconds{0};
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::family(std::string_view name, std::string_view help,
                                                 MetricType type,
                                                 const std::vector<double>* upper_bounds) {
  auto found = families_.find(name);
  if (found == families_.end()) {
    validate_metric_name(name);
    if (upper_bounds != nullptr) {
      validate_bounds(*upper_bounds);
    }
    auto created = std::make_unique<Family>();
    created->name = std::string(name);
    created->help = std::string(help);
    created->type = type;
    if (upper_bounds != nullptr) {
      created->upper_bounds = *upper_bounds;
    }
    found = families_.emplace(created->name, std::move(created)).first;
    return *found->second;
  }
  Family& existing = *found->second;
  if (existing.type != type || existing.help != help ||
      (upper_bounds != nullptr && existing.upper_bounds != *upper_bounds)) {
    throw InvalidArgument(
        fmt::format("metric {} is already registered as a {} with other help text or buckets", name,
                    metric_type_name(existing.type)));
  }
  return existing;
}

MetricsRegistry::Series& MetricsRegistry::series(Family& family, const MetricLabels& labels) {
  for (auto& existing : family.series) {
    if (existing->labels == labels) {
      return *existing;
    }
  }
  auto created = std::make_unique<Series>();
  created->labels = labels;
  switch (family.type) {
    case MetricType::Counter:
      created->counter = std::make_unique<Counter>();
      break;
    case MetricType::Gauge:
      created->gauge = std::make_unique<Gauge>();
      break;
    case MetricType::Histogram:
      created->histogram = std::make_unique<Histogram>(family.upper_bounds);
      break;
  }
  family.series.push_back(std::move(created));
  return *family.series.back();
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help,
                                  const MetricLabels& labels) {
  validate_labels(name, labels, MetricType::Counter);
  const std::lock_guard<std::mutex> lock(mutex_);
  return *series(family(name, help, MetricType::Counter, nullptr), labels).counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help,
                              const MetricLabels& labels) {
  validate_labels(name, labels, MetricType::Gauge);
  const std::lock_guard<std::mutex> lock(mutex_);
  return *series(family(name, help, MetricType::Gauge, nullptr), labels).gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      const std::vector<double>& upper_bounds,
                                      const MetricLabels& labels) {
  validate_labels(name, labels, MetricType::Histogram);
  const std::lock_guard<std::mutex> lock(mutex_);
  return *series(family(name, help, MetricType::Histogram, &upper_bounds), labels).histogram;
}

MetricsRegistry::CollectorId MetricsRegistry::add_collector(std::string name,
                                                            MetricsCollector collector) {
  if (!collector) {
    throw InvalidArgument("add_collector: empty collector");
  }
  auto entry = std::make_shared<CollectorEntry>();
  entry->name = std::move(name);
  entry->collector = std::move(collector);
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& existing : collectors_) {
    if (existing->name == entry->name) {
      throw InvalidArgument(
          fmt::format("a collector named '{}' is already registered", entry->name));
    }
  }
  entry->id = next_collector_id_++;
  collectors_.push_back(entry);
  return entry->id;
}

void MetricsRegistry::remove_collector(CollectorId id) {
  // Taking the scrape lock waits for a scrape in progress to finish.
  const std::lock_guard<std::mutex> scrape(scrape_mutex_);
  const std::lock_guard<std::mutex> lock(mutex_);
  collectors_.erase(std::remove_if(collectors_.begin(), collectors_.end(),
                                   [id](const std::shared_ptr<CollectorEntry>& entry) {
                                     return entry->id == id;
                                   }),
                    collectors_.end());
}

std::vector<MetricFamily> MetricsRegistry::collect() {
  const std::lock_guard<std::mutex> scrape(scrape_mutex_);
  std::vector<MetricFamily> result;
  std::vector<std::shared_ptr<CollectorEntry>> collectors;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    collectors = collectors_;
    for (const auto& [name, family] : families_) {
      MetricFamily out{family->name, family->help, family->type, {}};
      out.samples.reserve(family->series.size());
      for (const auto& series : family->series) {
        MetricSample sample;
        sample.labels = series->labels;
        if (series->counter) {
          sample.value = static_cast<double>(series->counter->value());
        } else if (series->gauge) {
          sample.value = series->gauge->value();
        } else {
          sample.histogram = series->histogram->data();
        }
        out.samples.push_back(std::move(sample));
      }
      result.push_back(std::move(out));
    }
  }

  // Collectors run without the registry lock, so they may create
  // instruments; the scrape lock keeps remove_collector() waiting.
  for (const auto& entry : collectors) {
    MetricsWriter writer;
    const auto started = std::chrono::steady_clock::now();
    try {
      entry->collector(writer);
      for (auto& family : writer.take()) {
        auto same = std::find_if(result.begin(), result.end(), [&](const MetricFamily& existing) {
          return existing.name == family.name;
        });
        if (same == result.end()) {
          result.push_back(std::move(family));
          continue;
        }
        if (same->type != family.type || same->help != family.help) {
          throw InvalidArgument(
              fmt::format("metric {} reported with two types or help texts", family.name));
        }
        for (auto& sample : family.samples) {
          const bool duplicate = std::any_of(
              same->samples.begin(), same->samples.end(),
              [&](const MetricSample& existing) { return existing.labels == sample.labels; });
          if (duplicate) {
            throw InvalidArgument(fmt::format("a series of {} was reported twice", family.name));
          }
        }
        for (auto& sample : family.samples) {
          same->samples.push_back(std::move(sample));
        }
      }
    } catch (const std::exception& error) {
      entry->errors.inc();
      log_message(LogLevel::Warning,
                  fmt::format("metrics collector '{}' failed: {}", entry->name, error.what()));
    }
    entry->last_duration_seconds.store(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
        std::memory_order_relaxed);
  }

  if (!collectors.empty()) {
    MetricFamily errors{"flashsale_metrics_collector_errors_total",
                        "Scrapes in which a collector failed; its figures were left out.",
                        MetricType::Counter,
                        {}};
    MetricFamily durations{"flashsale_metrics_collector_duration_seconds",
                           "How long each collector took on the latest scrape.",
                           MetricType::Gauge,
                           {}};
    for (const auto& entry : collectors) {
      MetricSample error;
      error.labels = {{"collector", entry->name}};
      error.value = static_cast<double>(entry->errors.value());
      errors.samples.push_back(std::move(error));
      MetricSample duration;
      duration.labels = {{"collector", entry->name}};
      duration.value = entry->last_duration_seconds.load(std::memory_order_relaxed);
      durations.samples.push_back(std::move(duration));
    }
    result.push_back(std::move(errors));
    result.push_back(std::move(durations));
  }

  std::stable_sort(
      result.begin(), result.end(),
      [](const MetricFamily& left, const MetricFamily& right) { return left.name < right.name; });
  return result;
}

void MetricsRegistry::visit(const std::function<void(const MetricFamily&)>& visitor) {
  for (const auto& family : collect()) {
    visitor(family);
  }
}

}  // namespace flashsale
