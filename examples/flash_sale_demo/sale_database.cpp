#include "sale_database.hpp"

#include <sqlite3.h>

#include <stdexcept>

#include "flashsale/sqlite_outbox_store.hpp"

namespace demo {

namespace {

struct Finalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, Finalizer>;

[[noreturn]] void fail(sqlite3* database, const std::string& what) {
  throw std::runtime_error(what + ": " + sqlite3_errmsg(database));
}

Statement prepare(sqlite3* database, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(database, sql, -1, &raw, nullptr) != SQLITE_OK) {
    fail(database, std::string("prepare ") + sql);
  }
  return Statement(raw);
}

void bind_text(sqlite3* database, sqlite3_stmt* statement, int index, const std::string& text) {
  if (sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    fail(database, "bind");
  }
}

void bind_integer(sqlite3* database, sqlite3_stmt* statement, int index, std::int64_t value) {
  if (sqlite3_bind_int64(statement, index, value) != SQLITE_OK) {
    fail(database, "bind");
  }
}

void step_done(sqlite3* database, sqlite3_stmt* statement) {
  if (sqlite3_step(statement) != SQLITE_DONE) {
    fail(database, "step");
  }
}

}  // namespace

void SaleDatabase::Closer::operator()(sqlite3* database) const {
  sqlite3_close(database);
}

SaleDatabase::SaleDatabase(const std::string& path) {
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open(path.c_str(), &raw);
  database_.reset(raw);
  if (opened != SQLITE_OK) {
    fail(raw, "open " + path);
  }
  sqlite3_busy_timeout(database_.get(), 5000);
  execute("PRAGMA journal_mode=WAL");
  // WAL with NORMAL sync is durable against a crash of the process, which
  // is what the demo needs; a power loss may drop the last transactions.
  execute("PRAGMA synchronous=NORMAL");
  execute(
      "CREATE TABLE IF NOT EXISTS user_coupons ("
      " coupon_id TEXT NOT NULL, user_id TEXT NOT NULL, sequence INTEGER NOT NULL,"
      " issued_at_ms INTEGER NOT NULL, UNIQUE(coupon_id, user_id))");
  execute(
      "CREATE TABLE IF NOT EXISTS orders ("
      " order_id TEXT PRIMARY KEY, items TEXT NOT NULL, units INTEGER NOT NULL)");
  execute(
      "CREATE TABLE IF NOT EXISTS stock_writeback ("
      " scope TEXT NOT NULL, sku TEXT NOT NULL, initial INTEGER NOT NULL,"
      " available INTEGER NOT NULL, confirmed INTEGER NOT NULL, PRIMARY KEY(scope, sku))");
  flashsale::SqliteOutboxStore::create_schema(database_.get());
}

SaleDatabase::~SaleDatabase() = default;

void SaleDatabase::execute(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(database_.get(), sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error(std::string(sql) + ": " + message);
  }
}

void SaleDatabase::record_coupon(const std::string& coupon_id, const std::string& user_id,
                                 std::int64_t sequence, std::int64_t issued_at_ms) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto statement = prepare(database_.get(),
                           "INSERT OR IGNORE INTO user_coupons"
                           " (coupon_id, user_id, sequence, issued_at_ms) VALUES (?, ?, ?, ?)");
  bind_text(database_.get(), statement.get(), 1, coupon_id);
  bind_text(database_.get(), statement.get(), 2, user_id);
  bind_integer(database_.get(), statement.get(), 3, sequence);
  bind_integer(database_.get(), statement.get(), 4, issued_at_ms);
  step_done(database_.get(), statement.get());
}

void SaleDatabase::record_order(const std::string& order_id, const std::string& items,
                                std::int64_t units) {
  const std::lock_guard<std::mutex> lock(mutex_);
  execute("BEGIN IMMEDIATE");
  try {
    auto statement =
        prepare(database_.get(), "INSERT INTO orders (order_id, items, units) VALUES (?, ?, ?)");
    bind_text(database_.get(), statement.get(), 1, order_id);
    bind_text(database_.get(), statement.get(), 2, items);
    bind_integer(database_.get(), statement.get(), 3, units);
    step_done(database_.get(), statement.get());
    flashsale::SqliteOutboxStore::append(database_.get(),
                                         {"order", order_id, "order_confirmed", items});
    execute("COMMIT");
  } catch (...) {
    execute("ROLLBACK");
    throw;
  }
}

void SaleDatabase::record_stock_writeback(const std::string& scope, const std::string& sku,
                                          std::int64_t initial, std::int64_t available,
                                          std::int64_t confirmed) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto statement = prepare(database_.get(),
                           "INSERT OR REPLACE INTO stock_writeback"
                           " (scope, sku, initial, available, confirmed) VALUES (?, ?, ?, ?, ?)");
  bind_text(database_.get(), statement.get(), 1, scope);
  bind_text(database_.get(), statement.get(), 2, sku);
  bind_integer(database_.get(), statement.get(), 3, initial);
  bind_integer(database_.get(), statement.get(), 4, available);
  bind_integer(database_.get(), statement.get(), 5, confirmed);
  step_done(database_.get(), statement.get());
}

std::int64_t SaleDatabase::count(const std::string& sql) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto statement = prepare(database_.get(), sql.c_str());
  if (sqlite3_step(statement.get()) != SQLITE_ROW) {
    fail(database_.get(), "query " + sql);
  }
  return sqlite3_column_int64(statement.get(), 0);
}

}  // namespace demo
