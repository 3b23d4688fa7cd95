#include "metrics_endpoint.hpp"

#include <stdexcept>

#include <httplib.h>

namespace demo {

MetricsEndpoint::MetricsEndpoint(std::shared_ptr<flashsale::MetricsRegistry> registry, int port)
    : registry_(std::move(registry)), server_(std::make_unique<httplib::Server>()) {
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(flashsale::render_prometheus(*registry_),
                         std::string(flashsale::kPrometheusContentType).c_str());
  });
  if (port == 0) {
    port_ = server_->bind_to_any_port("127.0.0.1");
  } else if (server_->bind_to_port("127.0.0.1", port)) {
    port_ = port;
  }
  if (port_ <= 0) {
    throw std::runtime_error("cannot serve /metrics on 127.0.0.1:" + std::to_string(port));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

MetricsEndpoint::~MetricsEndpoint() {
  server_->stop();
  thread_.join();
  for (const auto id : collectors_) {
    registry_->remove_collector(id);
  }
}

void MetricsEndpoint::add_collector(std::string name, flashsale::MetricsCollector collector) {
  collectors_.push_back(registry_->add_collector(std::move(name), std::move(collector)));
}

}  // namespace demo
