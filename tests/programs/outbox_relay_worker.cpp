// A relay process for the outbox crash tests: SqliteOutboxStore ->
// OutboxRelay -> RedisStreamPublisher, wrapped in decorators that SIGKILL the
// process at a chosen point and make the publisher fail now and then. The
// library itself has no test hooks.
//
// Usage: outbox_relay_worker <db path> <redis port> <kill point> <kill after> <fail every>
//   kill point: fetch | publish | mark | none
//     fetch   - after the store returned a non-empty batch, before publishing
//     publish - after the publisher returned, before the record is marked
//     mark    - after a pass's published records were marked
//   kill after: the number of events at that point before the kill (>= 1)
//   fail every: every n-th publish attempt fails (alternately before and
//     after reaching Redis); 0 never fails
// Exits 0 once a few passes in a row found nothing due.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "../redis/forwarding_outbox_store.hpp"
#include "flashsale/outbox_relay.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/sqlite_outbox_store.hpp"
#include "flashsale/standalone_client.hpp"

namespace {

enum class KillPoint { Fetch, Publish, Mark, None };

KillPoint parse_kill_point(const std::string& name) {
  if (name == "fetch") {
    return KillPoint::Fetch;
  }
  if (name == "publish") {
    return KillPoint::Publish;
  }
  if (name == "mark") {
    return KillPoint::Mark;
  }
  if (name == "none") {
    return KillPoint::None;
  }
  throw std::invalid_argument("unknown kill point " + name);
}

class Killer {
 public:
  Killer(KillPoint point, long after) : point_(point), remaining_(after) {}
  void reached(KillPoint point) {
    if (point == point_ && --remaining_ <= 0) {
      ::raise(SIGKILL);
    }
  }

 private:
  KillPoint point_;
  long remaining_;
};

class KillingStore : public flashsale::testing::ForwardingOutboxStore {
 public:
  KillingStore(flashsale::OutboxStore& inner, Killer& killer)
      : ForwardingOutboxStore(inner), killer_(killer) {}
  std::vector<flashsale::OutboxRecord> fetch_due(
      std::size_t limit, std::chrono::system_clock::time_point now) override {
    auto records = ForwardingOutboxStore::fetch_due(limit, now);
    if (!records.empty()) {
      killer_.reached(KillPoint::Fetch);
    }
    return records;
  }
  void mark_published_many(const std::vector<std::int64_t>& ids) override {
    ForwardingOutboxStore::mark_published_many(ids);
    killer_.reached(KillPoint::Mark);
  }

 private:
  Killer& killer_;
};

class KillingFlakyPublisher : public flashsale::OutboxPublisher {
 public:
  KillingFlakyPublisher(flashsale::OutboxPublisher& inner, Killer& killer, long fail_every)
      : inner_(inner), killer_(killer), fail_every_(fail_every) {}
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
    killer_.reached(KillPoint::Publish);
  }

 private:
  flashsale::OutboxPublisher& inner_;
  Killer& killer_;
  long fail_every_;
  long calls_ = 0;
  long failures_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: outbox_relay_worker <db> <port> <kill point> <kill after> <fail every>\n";
    return 2;
  }
  try {
    const std::string db_path = argv[1];
    flashsale::ConnectionOptions connection;
    connection.port = std::atoi(argv[2]);
    connection.command_timeout = std::chrono::seconds(10);
    Killer killer(parse_kill_point(argv[3]), std::atol(argv[4]));
    const long fail_every = std::atol(argv[5]);

    flashsale::SqliteOutboxStore sqlite_store(db_path);
    flashsale::StandaloneClient client(connection, flashsale::PoolOptions{1, {}});
    flashsale::RedisStreamPublisher stream_publisher(client);
    KillingStore store(sqlite_store, killer);
    KillingFlakyPublisher publisher(stream_publisher, killer, fail_every);

    flashsale::OutboxRelayOptions options;
    options.batch_size = 20;
    options.backoff_base = std::chrono::milliseconds(2);
    options.backoff_max = std::chrono::milliseconds(20);
    options.max_attempts = 1000000;
    flashsale::OutboxRelay relay(store, publisher, options);

    int idle_passes = 0;
    while (idle_passes < 5) {
      if (relay.relay_once().fetched == 0) {
        ++idle_passes;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else {
        idle_passes = 0;
      }
    }
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "outbox_relay_worker: " << error.what() << "\n";
    return 1;
  }
}
