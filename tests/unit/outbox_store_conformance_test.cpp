// SqliteOutboxStore passes the outbox store conformance suite
// (tests/support/outbox_store_conformance.hpp).
#include <memory>

#include "../redis/outbox_test_support.hpp"
#include "catch.hpp"
#include "flashsale/sqlite_outbox_store.hpp"
#include "outbox_store_conformance.hpp"

namespace {

class SqliteStoreUnderTest : public flashsale::testing::OutboxStoreUnderTest {
 public:
  SqliteStoreUnderTest()
      : host_(directory_.file("outbox.db")), store_(directory_.file("outbox.db")) {}

  flashsale::OutboxStore& store() override { return store_; }

  std::int64_t append_committed(const flashsale::NewOutboxRecord& record) override {
    host_.execute("BEGIN IMMEDIATE");
    try {
      const auto id = appender_.append(record);
      host_.execute("COMMIT");
      return id;
    } catch (...) {
      host_.execute("ROLLBACK");
      throw;
    }
  }

  void append_rolled_back(const flashsale::NewOutboxRecord& record) override {
    host_.execute("BEGIN IMMEDIATE");
    appender_.append(record);
    host_.execute("ROLLBACK");
  }

 private:
  flashsale::testing::TemporaryDirectory directory_;
  flashsale::testing::HostDatabase host_;
  flashsale::SqliteOutboxStore store_;
  flashsale::SqliteOutboxAppender appender_{host_.handle()};
};

}  // namespace

TEST_CASE("the SQLite outbox store passes the outbox store conformance suite", "[outbox]") {
  flashsale::testing::check_outbox_store_conformance(
      [] { return std::make_unique<SqliteStoreUnderTest>(); });
}
