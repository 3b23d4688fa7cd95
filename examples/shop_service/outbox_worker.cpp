#include "outbox_worker.hpp"

namespace shop {
namespace {

flashsale::OutboxRelayOptions relay_options() {
  flashsale::OutboxRelayOptions options;
  options.batch_size = 500;
  options.poll_interval = std::chrono::milliseconds(50);
  return options;
}

}  // namespace

OutboxWorker::OutboxWorker(flashsale::Client& redis, const std::string& conninfo)
    : store_(conninfo), publisher_(redis), relay_(store_, publisher_, relay_options()) {
  thread_ = std::thread([this] { relay_.run(); });
}

OutboxWorker::~OutboxWorker() {
  relay_.stop();
  thread_.join();
}

}  // namespace shop
