// The host's database in the demo: SQLite tables the sale's results land in.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

struct sqlite3;

namespace demo {

// Thread-safe: one connection behind a mutex (SQLite serialises writers anyway).
class SaleDatabase {
 public:
  // Opens (creating) the file in WAL mode and creates the tables:
  //   user_coupons(coupon_id, user_id, sequence, issued_at_ms, UNIQUE(coupon_id, user_id))
  //   orders(order_id PRIMARY KEY, items, units)
  //   stock_writeback(scope, sku, initial, available, confirmed, PRIMARY KEY(scope, sku))
  //   the outbox table of SqliteOutboxStore
  // Throws std::runtime_error on SQLite errors.
  explicit SaleDatabase(const std::string& path);
  ~SaleDatabase();
  SaleDatabase(const SaleDatabase&) = delete;
  SaleDatabase& operator=(const SaleDatabase&) = delete;

  // Persists one `issued` coupon event; a redelivered event changes nothing.
  void record_coupon(const std::string& coupon_id, const std::string& user_id,
                     std::int64_t sequence, std::int64_t issued_at_ms);

  // The order row and its outbox record, in one transaction: both or neither.
  void record_order(const std::string& order_id, const std::string& items, std::int64_t units);

  // The final figures of one SKU after the sale ended; written again with the
  // same figures when the end-of-sale event is redelivered.
  void record_stock_writeback(const std::string& scope, const std::string& sku,
                              std::int64_t initial, std::int64_t available, std::int64_t confirmed);

  // The single integer a query returns.
  std::int64_t count(const std::string& sql);

 private:
  void execute(const char* sql);

  struct Closer {
    void operator()(sqlite3* database) const;
  };
  std::mutex mutex_;
  std::unique_ptr<sqlite3, Closer> database_;
};

}  // namespace demo
