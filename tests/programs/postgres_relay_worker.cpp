// A relay process for the PostgreSQL outbox stress test: PostgresOutboxStore
// -> OutboxRelay::run() -> RedisStreamPublisher, with a publisher that fails
// now and then. Runs until it is killed (the test SIGKILLs it).
//
// Usage: postgres_relay_worker <conninfo> <redis port> <claim lease ms> <fail every>
//   fail every: every n-th publish attempt fails (alternately before and
//     after reaching Redis); 0 never fails
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

#include "flashsale/outbox_relay.hpp"
#include "flashsale/postgres_outbox_store.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/standalone_client.hpp"

namespace {

class FlakyPublisher : public flashsale::OutboxPublisher {
 public:
  FlakyPublisher(flashsale::OutboxPublisher& inner, long fail_every)
      : inner_(inner), fail_every_(fail_every) {}
  void publish(const flashsale::OutboxRecord& record) override {
    ++calls_;
    const bool fail = fail_every_ > 0 && calls_ % fail_every_ == 0;
    if (fail && ++failures_ % 2 == 1) {
      throw std::runtime_error("injected failure before publishing");
    }
    inner_.publish(record);
    if (fail) {
      throw std::runtime_error("injected failure after publishing");
    }
  }

 private:
  flashsale::OutboxPublisher& inner_;
  long fail_every_;
  long calls_ = 0;
  long failures_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: postgres_relay_worker <conninfo> <redis port> <lease ms> <fail every>\n";
    return 2;
  }
  try {
    flashsale::ConnectionOptions connection;
    connection.port = std::atoi(argv[2]);
    connection.command_timeout = std::chrono::seconds(10);
    flashsale::PostgresOutboxStoreOptions store_options;
    store_options.claim_lease = std::chrono::milliseconds(std::atol(argv[3]));
    flashsale::PostgresOutboxStore store(argv[1], store_options);
    flashsale::StandaloneClient client(connection, flashsale::PoolOptions{1, {}});
    flashsale::RedisStreamPublisher stream_publisher(client);
    FlakyPublisher publisher(stream_publisher, std::atol(argv[4]));

    flashsale::OutboxRelayOptions options;
    options.batch_size = 50;
    options.poll_interval = std::chrono::milliseconds(10);
    options.backoff_base = std::chrono::milliseconds(2);
    options.backoff_max = std::chrono::milliseconds(20);
    options.max_attempts = 1000000;
    flashsale::OutboxRelay relay(store, publisher, options);
    relay.run();
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "postgres_relay_worker: " << error.what() << "\n";
    return 1;
  }
}
