// Metrics: transport figures on a client, a coupon's figures read on scrape,
// rendered in the Prometheus text format and forwarded through the visitor.
// Serve render_prometheus() from your own HTTP server (the demo's
// examples/flash_sale_demo/metrics_endpoint.cpp does it with cpp-httplib).
//
//   metrics [host] [port]     (default 127.0.0.1 6379)
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "flashsale/component_metrics.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/metrics.hpp"
#include "flashsale/standalone_client.hpp"

int main(int argc, char** argv) {
  try {
    auto registry = std::make_shared<flashsale::MetricsRegistry>();
    flashsale::ConnectionOptions connection;
    connection.host = argc > 1 ? argv[1] : "127.0.0.1";
    connection.port = argc > 2 ? std::atoi(argv[2]) : 6379;
    connection.metrics = registry;  // opt-in: calls, errors, pool, reconnects
    flashsale::StandaloneClient client(connection);
    flashsale::FirstComeCouponIssuer issuer(client);

    const auto now = std::chrono::system_clock::now();
    issuer.register_template(
        {"welcome-10", 100, now - std::chrono::minutes(1), now + std::chrono::hours(1), 1});
    // Read from Redis on every scrape; remove it before the issuer goes away.
    const auto collector =
        registry->add_collector("coupons", flashsale::coupon_metrics(issuer, {"welcome-10"}));
    issuer.issue("welcome-10", "user-42");

    std::cout << flashsale::render_prometheus(*registry);        // the body of GET /metrics
    registry->visit([](const flashsale::MetricFamily& family) {  // or forward elsewhere
      std::cerr << family.name << ": " << family.samples.size() << " series\n";
    });
    registry->remove_collector(collector);
  } catch (const flashsale::Error& error) {
    std::cerr << "metrics: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
