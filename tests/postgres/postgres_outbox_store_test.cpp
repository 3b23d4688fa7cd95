// PostgresOutboxStore against a private PostgreSQL (initdb + postgres on a
// free loopback port in a temporary directory): the conformance suite,
// claiming across store instances, commit order versus id order, errors.
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/postgres_outbox_store.hpp"
#include "outbox_store_conformance.hpp"
#include "postgres_server.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using flashsale::NewOutboxRecord;
using flashsale::PostgresOutboxAppender;
using flashsale::PostgresOutboxStore;
using flashsale::PostgresOutboxStoreOptions;
using flashsale::testing::PostgresConnection;
using flashsale::testing::PostgresServer;

namespace {

// One server for the whole test program (each section gets its own database).
PostgresServer& shared_server() {
  static PostgresServer server;
  return server;
}

std::string fresh_database(PostgresServer& server) {
  static int counter = 0;
  const std::string name = "conformance_" + std::to_string(++counter);
  PostgresConnection admin(server);
  admin.execute("CREATE DATABASE " + name);
  return server.conninfo() + " dbname=" + name;
}

class PostgresStoreUnderTest : public flashsale::testing::OutboxStoreUnderTest {
 public:
  explicit PostgresStoreUnderTest(std::string conninfo)
      : conninfo_(std::move(conninfo)),
        store_(conninfo_, options()),
        host_(PQconnectdb(conninfo_.c_str())),
        appender_(host_) {
    if (PQstatus(host_) != CONNECTION_OK) {
      throw std::runtime_error(PQerrorMessage(host_));
    }
  }
  ~PostgresStoreUnderTest() override { PQfinish(host_); }

  static PostgresOutboxStoreOptions options() {
    PostgresOutboxStoreOptions options;
    options.claim_lease = 60s;
    return options;
  }

  flashsale::OutboxStore& store() override { return store_; }

  std::int64_t append_committed(const NewOutboxRecord& record) override {
    execute("BEGIN");
    try {
      const auto id = appender_.append(record);
      execute("COMMIT");
      return id;
    } catch (...) {
      execute("ROLLBACK");
      throw;
    }
  }

  void append_rolled_back(const NewOutboxRecord& record) override {
    execute("BEGIN");
    appender_.append(record);
    execute("ROLLBACK");
  }

  std::unique_ptr<flashsale::OutboxStore> another_relay_store() override {
    return std::make_unique<PostgresOutboxStore>(conninfo_, options());
  }

 private:
  void execute(const char* sql) { PQclear(PQexec(host_, sql)); }

  std::string conninfo_;
  PostgresOutboxStore store_;
  PGconn* host_;
  PostgresOutboxAppender appender_;
};

}  // namespace

TEST_CASE("the PostgreSQL outbox store passes the outbox store conformance suite",
          "[outbox][postgres]") {
  auto& server = shared_server();
  flashsale::testing::check_outbox_store_conformance(
      [&server] { return std::make_unique<PostgresStoreUnderTest>(fresh_database(server)); });
}

TEST_CASE("an append waits for an open transaction on the same aggregate, so ids follow commits",
          "[outbox][postgres]") {
  auto& server = shared_server();
  const auto conninfo = fresh_database(server);
  PostgresOutboxStore store(conninfo);
  PostgresConnection first(conninfo);
  PostgresConnection second(conninfo);
  PostgresConnection third(conninfo);
  first.execute("BEGIN");
  const auto first_id =
      PostgresOutboxStore::append(first.get(), NewOutboxRecord{"order", "o-1", "a", ""});
  std::atomic<std::int64_t> second_id{0};
  std::thread other([&] {
    second.execute("BEGIN");
    second_id = PostgresOutboxStore::append(second.get(), NewOutboxRecord{"order", "o-1", "b", ""});
    second.execute("COMMIT");
  });
  // An append to another aggregate does not wait (autocommit: committed at once).
  const auto unrelated =
      PostgresOutboxStore::append(third.get(), NewOutboxRecord{"order", "o-2", "c", ""});
  std::this_thread::sleep_for(300ms);
  CHECK(second_id.load() == 0);  // still waiting for the first transaction
  const auto visible = store.fetch_due(10, std::chrono::system_clock::now());
  REQUIRE(visible.size() == 1);
  CHECK(visible[0].id == unrelated);
  first.execute("COMMIT");
  other.join();
  CHECK(second_id.load() > first_id);
  CHECK(first_id > 0);
}

TEST_CASE(
    "the PostgreSQL store refuses bad options before connecting and reports a refused "
    "connection as ConnectionError",
    "[outbox][postgres]") {
  PostgresOutboxStoreOptions options;
  options.claim_lease = 0ms;
  CHECK_THROWS_AS(PostgresOutboxStore("host=127.0.0.1 port=1", options),
                  flashsale::InvalidArgument);
  options = PostgresOutboxStoreOptions{};
  options.statement_timeout = -1ms;
  CHECK_THROWS_AS(PostgresOutboxStore("host=127.0.0.1 port=1", options),
                  flashsale::InvalidArgument);
  options = PostgresOutboxStoreOptions{};
  options.connect_timeout = -1ms;
  CHECK_THROWS_AS(PostgresOutboxStore("host=127.0.0.1 port=1", options),
                  flashsale::InvalidArgument);
  const int closed_port = flashsale::testing::free_loopback_port();
  CHECK_THROWS_AS(
      PostgresOutboxStore("host=127.0.0.1 dbname=x port=" + std::to_string(closed_port)),
      flashsale::ConnectionError);
  CHECK_THROWS_AS(PostgresOutboxStore::append(nullptr, NewOutboxRecord{"order", "o", "e", ""}),
                  flashsale::InvalidArgument);
}

TEST_CASE("the PostgreSQL store reconnects after its connection was terminated",
          "[outbox][postgres]") {
  auto& server = shared_server();
  const auto conninfo = fresh_database(server);
  PostgresOutboxStore store(conninfo);
  PostgresConnection host(conninfo);
  const auto id = PostgresOutboxStore::append(host.get(), NewOutboxRecord{"order", "o", "e", ""});
  host.execute(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'flashsale-outbox-relay'");
  CHECK_THROWS_AS(store.fetch_due(10, std::chrono::system_clock::now()),
                  flashsale::ConnectionError);
  const auto records = store.fetch_due(10, std::chrono::system_clock::now());
  REQUIRE(records.size() == 1);
  CHECK(records[0].id == id);
  store.mark_published(id);
  const auto status = store.status(id);
  REQUIRE(status.has_value());
  CHECK(status->state == flashsale::OutboxRecordState::Published);
  CHECK(store.counts().published == 1);
  CHECK(store.purge_published(std::chrono::system_clock::now() + 1h, 10) == 1);
  CHECK_FALSE(store.status(id).has_value());
}

TEST_CASE("the PostgreSQL store's counts name the creation time of the oldest pending record",
          "[outbox][postgres][metrics]") {
  auto& server = shared_server();
  const auto conninfo = fresh_database(server);
  PostgresOutboxStore store(conninfo);
  PostgresConnection host(conninfo);
  CHECK_FALSE(store.counts().oldest_pending_created_at.has_value());
  const auto first =
      PostgresOutboxStore::append(host.get(), NewOutboxRecord{"order", "a", "e", ""});
  PostgresOutboxStore::append(host.get(), NewOutboxRecord{"order", "b", "e", ""});
  const auto records = store.fetch_due(10, std::chrono::system_clock::now());
  REQUIRE(records.size() == 2);
  CHECK(store.counts().oldest_pending_created_at == records[0].created_at);
  store.mark_published(first);
  CHECK(store.counts().oldest_pending_created_at == records[1].created_at);
  store.mark_published(records[1].id);
  CHECK_FALSE(store.counts().oldest_pending_created_at.has_value());
}
