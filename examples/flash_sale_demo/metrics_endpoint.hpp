// The demo's /metrics: an HTTP listener (cpp-httplib) serving
// flashsale::render_prometheus(registry) on 127.0.0.1 while the sale runs,
// plus the collectors of the sale's components. The library itself has no
// HTTP server: this is the few lines a host writes.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "flashsale/metrics.hpp"

namespace httplib {
class Server;
}

namespace demo {

// Not thread-safe; lives in main()'s scope. Destroy it before the components
// whose collectors were added: the destructor stops serving and removes them.
class MetricsEndpoint {
 public:
  // Serves on 127.0.0.1:`port` (0: a free port the system picks). Throws
  // std::runtime_error when the port cannot be bound.
  MetricsEndpoint(std::shared_ptr<flashsale::MetricsRegistry> registry, int port);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  int port() const noexcept { return port_; }
  void add_collector(std::string name, flashsale::MetricsCollector collector);

 private:
  std::shared_ptr<flashsale::MetricsRegistry> registry_;
  std::vector<flashsale::MetricsRegistry::CollectorId> collectors_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace demo
