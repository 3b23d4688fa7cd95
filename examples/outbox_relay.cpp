// The transactional outbox in one program: an order row and its outbox record
// commit together in SQLite, then the relay publishes the record to the Redis
// stream fs:outbox:{order}, once.
//
//   outbox_relay [database file] [redis port]     (defaults: outbox_example.db, 6379)
#include <sqlite3.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "flashsale/outbox_relay.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/sqlite_outbox_store.hpp"
#include "flashsale/standalone_client.hpp"

namespace {

void execute(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    throw std::runtime_error(text);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "outbox_example.db";
  flashsale::ConnectionOptions redis;
  redis.port = argc > 2 ? std::atoi(argv[2]) : 6379;
  sqlite3* db = nullptr;
  try {
    // The relay's store creates the outbox table and turns on WAL mode.
    flashsale::SqliteOutboxStore store(path);

    // The host's own connection: the business row and the record commit together.
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db));
    }
    sqlite3_busy_timeout(db, 5000);
    execute(db, "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total_cents INTEGER)");
    execute(db, "BEGIN IMMEDIATE");
    execute(db, "INSERT INTO orders (total_cents) VALUES (4999)");
    const std::string order_id = std::to_string(sqlite3_last_insert_rowid(db));
    const auto outbox_id = flashsale::SqliteOutboxStore::append(
        db, {"order", "order-" + order_id, "order_placed", R"({"total_cents":4999})"});
    execute(db, "COMMIT");

    flashsale::StandaloneClient client(redis);
    flashsale::RedisStreamPublisher publisher(client);
    flashsale::OutboxRelay relay(store, publisher);
    // A service would call relay.run() on a thread and relay.stop() at shutdown.
    const auto report = relay.relay_once();
    std::cout << "outbox record " << outbox_id << ": fetched " << report.fetched << ", published "
              << report.published << " to " << publisher.stream_for("order") << "\n";
    sqlite3_close(db);
    return report.failed == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::cerr << "outbox_relay: " << error.what() << "\n";
    sqlite3_close(db);
    return 1;
  }
}
