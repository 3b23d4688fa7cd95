// The exposition checked by the real thing: a Prometheus server (Debian's
// `prometheus`) scrapes this test process while it runs a coupon race, and
// its HTTP API must report the issued count and a scrape without errors.
// Without a prometheus binary the test reports itself skipped (CTest's
// SKIP_REGULAR_EXPRESSION matches the message), never passed.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "catch.hpp"
#include "coupon_race.hpp"
#include "flashsale/component_metrics.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/metrics.hpp"
#include "flashsale/standalone_client.hpp"
#include "prometheus_server.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;

namespace {

// The one sample value of an instant query's vector result; empty when the
// result is empty (not scraped yet).
std::string single_value(const std::string& body) {
  // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},
  //  "value":[1701380000.123,"300"]}]}}
  const auto value = body.find("\"value\":[");
  if (value == std::string::npos) {
    return {};
  }
  const auto open = body.find(",\"", value);
  const auto close = open == std::string::npos ? open : body.find("\"]", open + 2);
  return close == std::string::npos ? std::string() : body.substr(open + 2, close - open - 2);
}

// Serves render_prometheus(registry) at /metrics on a free loopback port
// from its own thread until destroyed.
class MetricsListener {
 public:
  explicit MetricsListener(flashsale::MetricsRegistry& registry) {
    server_.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
      response.set_content(flashsale::render_prometheus(registry),
                           std::string(flashsale::kPrometheusContentType).c_str());
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) {
      throw std::runtime_error("cannot bind the metrics listener");
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~MetricsListener() {
    server_.stop();
    thread_.join();
  }
  MetricsListener(const MetricsListener&) = delete;
  MetricsListener& operator=(const MetricsListener&) = delete;

  int port() const noexcept { return port_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace

TEST_CASE("a real Prometheus scrapes a coupon race without errors and reads the issued count",
          "[metrics][prometheus]") {
  const auto prometheus_executable = flashsale::testing::find_prometheus();
  if (!prometheus_executable) {
    FAIL(
        "flashsale-skip: prometheus binary not found (install Debian's `prometheus` package or "
        "set FLASHSALE_PROMETHEUS); this test did not run");
  }

  flashsale::testing::RedisServer redis;
  auto registry = std::make_shared<flashsale::MetricsRegistry>();
  auto options = redis.connection_options();
  options.metrics = registry;
  flashsale::StandaloneClient client(options, flashsale::PoolOptions{8, 30s});
  flashsale::FirstComeCouponIssuer issuer(client);
  issuer.register_template(flashsale::testing::open_coupon(client, "race", 300));
  // A label value that needs escaping travels through the parser too.
  registry
      ->gauge("flashsale_test_escaped_label", "A label value with \" and \\ in it.",
              {{"coupon", "quote\"back\\slash"}})
      .set(1);
  registry->add_collector("coupons", flashsale::coupon_metrics(issuer, {"race"}));

  MetricsListener listener(*registry);
  flashsale::testing::PrometheusServer prometheus(*prometheus_executable,
                                                  {"127.0.0.1:" + std::to_string(listener.port())});

  constexpr int kThreads = 16;
  constexpr int kUsersPerThread = 40;
  const int issued = flashsale::testing::run_coupon_race(issuer, "race", kThreads, kUsersPerThread);
  REQUIRE(issued == 300);

  // Scrapes come every second; wait for one taken after the race.
  std::string issued_value;
  std::string calls_value;
  const bool scraped = flashsale::testing::eventually(
      [&] {
        issued_value = single_value(
            prometheus.get("/api/v1/query?query=flashsale_coupon_issued%7Bcoupon%3D%22race%22%7D"));
        calls_value = single_value(prometheus.get(
            "/api/v1/query?query=flashsale_redis_call_duration_seconds_count%7Boperation%3D%22"
            "issue_coupon%22%7D"));
        return issued_value == std::to_string(issued) &&
               calls_value == std::to_string(kThreads * kUsersPerThread);
      },
      60s);
  INFO("prometheus log:\n" << prometheus.log());
  CHECK(scraped);
  CHECK(issued_value == "300");
  CHECK(calls_value == std::to_string(kThreads * kUsersPerThread));

  // The escaped label value came through the parser intact.
  const std::string escaped = prometheus.get(
      "/api/v1/query?query=flashsale_test_escaped_label%7Bcoupon%3D%22quote%5C%22back%5C%5Cslash%22"
      "%7D");
  CHECK(single_value(escaped) == "1");
  // Histogram buckets are usable: a quantile over them has a value.
  const std::string quantile = prometheus.get(
      "/api/v1/query?query=histogram_quantile(0.99%2Csum%20by%20(le)(flashsale_redis_call_duration_"
      "seconds_bucket%7Boperation%3D%22issue_coupon%22%7D))");
  CHECK_FALSE(single_value(quantile).empty());

  // The target is healthy and its latest scrape had no error.
  const std::string targets = prometheus.get("/api/v1/targets?state=active");
  INFO("targets: " << targets);
  CHECK(targets.find("\"health\":\"up\"") != std::string::npos);
  CHECK(targets.find("\"lastError\":\"\"") != std::string::npos);
  CHECK(single_value(prometheus.get("/api/v1/query?query=up")) == "1");
  CHECK(single_value(prometheus.get(
            "/api/v1/query?query=flashsale_metrics_collector_errors_total%7Bcollector%3D%22"
            "coupons%22%7D")) == "0");
}
