#include "flashsale/metrics.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"

using flashsale::InvalidArgument;
using flashsale::MetricFamily;
using flashsale::MetricLabels;
using flashsale::MetricsRegistry;
using flashsale::MetricsWriter;
using flashsale::MetricType;
using flashsale::render_prometheus;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const MetricFamily* find_family(const std::vector<MetricFamily>& families,
                                const std::string& name) {
  for (const auto& family : families) {
    if (family.name == name) {
      return &family;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("every family is rendered with its HELP and TYPE lines before its samples", "[metrics]") {
  MetricsRegistry registry;
  registry.counter("flashsale_test_calls_total", "Calls made.", {{"component", "coupon"}}).inc(3);
  registry.gauge("flashsale_test_level", "A level.").set(2.5);
  const std::string text = render_prometheus(registry);
  CHECK(text ==
        "# HELP flashsale_test_calls_total Calls made.\n"
        "# TYPE flashsale_test_calls_total counter\n"
        "flashsale_test_calls_total{component=\"coupon\"} 3\n"
        "# HELP flashsale_test_level A level.\n"
        "# TYPE flashsale_test_level gauge\n"
        "flashsale_test_level 2.5\n");
}

TEST_CASE(
    "label values escape backslash, double quote and newline, help text backslash and "
    "newline",
    "[metrics]") {
  MetricsRegistry registry;
  registry
      .gauge("flashsale_test_escaped", "Line one\nback\\slash \"quoted\"",
             {{"coupon", "a\"b\\c\nd"}})
      .set(1);
  const std::string text = render_prometheus(registry);
  CHECK(contains(text, "# HELP flashsale_test_escaped Line one\\nback\\\\slash \"quoted\"\n"));
  CHECK(contains(text, "flashsale_test_escaped{coupon=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST_CASE("histogram buckets are cumulative and end with +Inf equal to the count", "[metrics]") {
  MetricsRegistry registry;
  auto& histogram = registry.histogram("flashsale_test_duration_seconds", "Durations.",
                                       {0.1, 0.5, 1}, {{"script", "issue_coupon"}});
  for (const double value : {0.05, 0.1, 0.3, 0.7, 2.0, 3.0}) {
    histogram.observe(value);
  }
  const std::string text = render_prometheus(registry);
  CHECK(text ==
        "# HELP flashsale_test_duration_seconds Durations.\n"
        "# TYPE flashsale_test_duration_seconds histogram\n"
        "flashsale_test_duration_seconds_bucket{script=\"issue_coupon\",le=\"0.1\"} 2\n"
        "flashsale_test_duration_seconds_bucket{script=\"issue_coupon\",le=\"0.5\"} 3\n"
        "flashsale_test_duration_seconds_bucket{script=\"issue_coupon\",le=\"1\"} 4\n"
        "flashsale_test_duration_seconds_bucket{script=\"issue_coupon\",le=\"+Inf\"} 6\n"
        "flashsale_test_duration_seconds_sum{script=\"issue_coupon\"} 6.15\n"
        "flashsale_test_duration_seconds_count{script=\"issue_coupon\"} 6\n");
}

TEST_CASE("durations are observed in seconds", "[metrics]") {
  MetricsRegistry registry;
  auto& histogram = registry.histogram("flashsale_test_wait_seconds", "Waits.", {0.001, 0.01});
  histogram.observe(std::chrono::microseconds(500));
  histogram.observe(std::chrono::milliseconds(5));
  const auto data = histogram.data();
  CHECK(data.cumulative_counts == std::vector<std::uint64_t>{1, 2});
  CHECK(data.count == 2);
  CHECK(data.sum == Approx(0.0055));
}

TEST_CASE("special values render as Prometheus spells them", "[metrics]") {
  MetricsRegistry registry;
  registry.gauge("flashsale_test_value", "V.", {{"case", "inf"}})
      .set(std::numeric_limits<double>::infinity());
  registry.gauge("flashsale_test_value", "V.", {{"case", "minus_inf"}})
      .set(-std::numeric_limits<double>::infinity());
  registry.gauge("flashsale_test_value", "V.", {{"case", "nan"}})
      .set(std::numeric_limits<double>::quiet_NaN());
  registry.gauge("flashsale_test_value", "V.", {{"case", "big"}}).set(12345678901234.0);
  const std::string text = render_prometheus(registry);
  CHECK(contains(text, "flashsale_test_value{case=\"inf\"} +Inf\n"));
  CHECK(contains(text, "flashsale_test_value{case=\"minus_inf\"} -Inf\n"));
  CHECK(contains(text, "flashsale_test_value{case=\"nan\"} NaN\n"));
  CHECK(contains(text, "flashsale_test_value{case=\"big\"} 12345678901234\n"));
}

TEST_CASE("asking for the same name and labels returns the same instrument", "[metrics]") {
  MetricsRegistry registry;
  auto& first = registry.counter("flashsale_test_total", "T.", {{"kind", "a"}});
  auto& again = registry.counter("flashsale_test_total", "T.", {{"kind", "a"}});
  auto& other = registry.counter("flashsale_test_total", "T.", {{"kind", "b"}});
  CHECK(&first == &again);
  CHECK(&first != &other);
}

TEST_CASE("malformed names, repeated labels and conflicting registrations are refused",
          "[metrics]") {
  MetricsRegistry registry;
  CHECK_THROWS_AS(registry.counter("", "x"), InvalidArgument);
  CHECK_THROWS_AS(registry.counter("9starts_with_digit", "x"), InvalidArgument);
  CHECK_THROWS_AS(registry.counter("has-dash", "x"), InvalidArgument);
  CHECK_THROWS_AS(registry.counter("ok_total", "x", {{"bad-label", "v"}}), InvalidArgument);
  CHECK_THROWS_AS(registry.counter("ok_total", "x", {{"__reserved", "v"}}), InvalidArgument);
  CHECK_THROWS_AS(registry.counter("ok_total", "x", {{"a", "1"}, {"a", "2"}}), InvalidArgument);
  CHECK_THROWS_AS(registry.histogram("h_seconds", "x", {1, 2}, {{"le", "1"}}), InvalidArgument);
  CHECK_THROWS_AS(registry.histogram("h_seconds", "x", {2, 1}), InvalidArgument);
  CHECK_THROWS_AS(registry.histogram("h_seconds", "x", {1, 1}), InvalidArgument);
  CHECK_THROWS_AS(registry.histogram("h_seconds", "x", {1, std::nan("")}), InvalidArgument);

  registry.counter("flashsale_test_total", "Help.");
  CHECK_THROWS_AS(registry.gauge("flashsale_test_total", "Help."), InvalidArgument);
  CHECK_THROWS_AS(registry.counter("flashsale_test_total", "Other help."), InvalidArgument);
  registry.histogram("flashsale_test_seconds", "H.", {1, 2});
  CHECK_THROWS_AS(registry.histogram("flashsale_test_seconds", "H.", {1, 3}), InvalidArgument);
  // Nothing of the refused registrations shows up.
  const auto families = registry.collect();
  CHECK(families.size() == 2);
}

TEST_CASE("collector figures are merged with the instruments and sorted by name", "[metrics]") {
  MetricsRegistry registry;
  registry.counter("flashsale_b_total", "B.").inc();
  registry.add_collector("coupons", [](MetricsWriter& out) {
    out.gauge("flashsale_a", "A.", {{"coupon", "x"}}, 7);
    out.gauge("flashsale_a", "A.", {{"coupon", "y"}}, 8);
  });
  const auto families = registry.collect();
  REQUIRE(families.size() >= 3);
  CHECK(families[0].name == "flashsale_a");
  CHECK(families[0].samples.size() == 2);
  CHECK(families[0].samples[1].value == 8);
  CHECK(families[1].name == "flashsale_b_total");
  const auto* errors = find_family(families, "flashsale_metrics_collector_errors_total");
  REQUIRE(errors != nullptr);
  CHECK(errors->samples.at(0).value == 0);
}

TEST_CASE("a failing collector drops only its own figures and is counted", "[metrics]") {
  MetricsRegistry registry;
  registry.add_collector("good",
                         [](MetricsWriter& out) { out.gauge("flashsale_good", "G.", {}, 1); });
  registry.add_collector("bad", [](MetricsWriter& out) {
    out.gauge("flashsale_bad", "B.", {}, 1);
    throw std::runtime_error("redis down");
  });
  registry.add_collector("twice", [](MetricsWriter& out) {
    out.gauge("flashsale_twice", "T.", {}, 1);
    out.gauge("flashsale_twice", "T.", {}, 2);
  });
  registry.collect();
  const auto families = registry.collect();
  CHECK(find_family(families, "flashsale_good") != nullptr);
  CHECK(find_family(families, "flashsale_bad") == nullptr);
  CHECK(find_family(families, "flashsale_twice") == nullptr);
  const std::string text = render_prometheus(families);
  CHECK(contains(text, "flashsale_metrics_collector_errors_total{collector=\"bad\"} 2\n"));
  CHECK(contains(text, "flashsale_metrics_collector_errors_total{collector=\"twice\"} 2\n"));
  CHECK(contains(text, "flashsale_metrics_collector_errors_total{collector=\"good\"} 0\n"));
}

TEST_CASE("a removed collector never runs again and names are unique", "[metrics]") {
  MetricsRegistry registry;
  int runs = 0;
  const auto id = registry.add_collector("counted", [&](MetricsWriter&) { ++runs; });
  CHECK_THROWS_AS(registry.add_collector("counted", [](MetricsWriter&) {}), InvalidArgument);
  CHECK_THROWS_AS(registry.add_collector("empty", nullptr), InvalidArgument);
  registry.collect();
  registry.remove_collector(id);
  registry.remove_collector(id);
  registry.collect();
  CHECK(runs == 1);
}

TEST_CASE("the visitor sees the same families a scrape renders", "[metrics]") {
  MetricsRegistry registry;
  registry.counter("flashsale_test_total", "T.").inc(41);
  registry.histogram("flashsale_test_seconds", "S.", {1}).observe(0.5);
  std::vector<std::string> names;
  double total = 0;
  registry.visit([&](const MetricFamily& family) {
    names.push_back(family.name);
    if (family.type == MetricType::Counter) {
      total = family.samples.at(0).value;
    }
  });
  CHECK(names == std::vector<std::string>{"flashsale_test_seconds", "flashsale_test_total"});
  CHECK(total == 41);
}

TEST_CASE("counters and histograms equal the calls made by 32 threads while scrapes run",
          "[metrics]") {
  constexpr int kThreads = 32;
  constexpr int kCallsPerThread = 20000;
  MetricsRegistry registry;
  auto& shared = registry.counter("flashsale_test_calls_total", "Calls.");
  auto& latency = registry.histogram("flashsale_test_seconds", "S.", {0.5, 1.5});
  std::atomic<bool> done{false};
  std::atomic<int> incomplete_scrapes{0};
  std::thread scraper([&] {  // counts only: Catch2 assertions are not thread-safe
    while (!done.load()) {
      if (!contains(render_prometheus(registry), "flashsale_test_calls_total")) {
        ++incomplete_scrapes;
      }
    }
  });
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      // Each thread also creates its own series while others scrape.
      auto& own = registry.counter("flashsale_test_thread_calls_total", "Per thread.",
                                   {{"thread", std::to_string(thread)}});
      for (int call = 0; call < kCallsPerThread; ++call) {
        shared.inc();
        own.inc();
        latency.observe(call % 2 == 0 ? 1.0 : 2.0);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  done = true;
  scraper.join();
  CHECK(incomplete_scrapes == 0);

  CHECK(shared.value() == std::uint64_t{kThreads} * kCallsPerThread);
  const auto data = latency.data();
  CHECK(data.count == std::uint64_t{kThreads} * kCallsPerThread);
  CHECK(data.cumulative_counts == std::vector<std::uint64_t>{0, data.count / 2});
  CHECK(data.sum == Approx(1.5 * kThreads * kCallsPerThread));
  const auto families = registry.collect();
  const auto* per_thread = find_family(families, "flashsale_test_thread_calls_total");
  REQUIRE(per_thread != nullptr);
  REQUIRE(per_thread->samples.size() == kThreads);
  for (const auto& sample : per_thread->samples) {
    CHECK(sample.value == kCallsPerThread);
  }
}
