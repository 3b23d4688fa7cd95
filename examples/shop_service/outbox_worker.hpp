// The outbox relay on its own thread: PostgreSQL's outbox records (confirmed
// orders) published to Redis streams ("<prefix>:outbox:{order}" by aggregate
// type), at least once, in order per order id.
#pragma once

#include <flashsale/client.hpp>
#include <flashsale/outbox_relay.hpp>
#include <flashsale/postgres_outbox_store.hpp>
#include <flashsale/redis_stream_publisher.hpp>

#include <string>
#include <thread>

namespace shop {

class OutboxWorker {
 public:
  OutboxWorker(flashsale::Client& redis, const std::string& conninfo);
  ~OutboxWorker();  // stops and joins
  OutboxWorker(const OutboxWorker&) = delete;
  OutboxWorker& operator=(const OutboxWorker&) = delete;

 private:
  flashsale::PostgresOutboxStore store_;
  flashsale::RedisStreamPublisher publisher_;
  flashsale::OutboxRelay relay_;
  std::thread thread_;
};

}  // namespace shop
