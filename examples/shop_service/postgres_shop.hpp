// The baseline ("before"): every endpoint is a PostgreSQL transaction. A
// coupon takes the coupon row's lock (UPDATE ... remaining - 1) and a row of
// user_coupons, whose primary key allows one unit per user; an order takes
// the SKU row's lock and holds stock in the stock table; confirm moves it to
// confirmed and appends the outbox record in the same transaction.
#pragma once

#include <chrono>

#include "pg_pool.hpp"
#include "shop_backend.hpp"

namespace shop {

class PostgresShop final : public ShopBackend {
 public:
  PostgresShop(PgPool& pool, std::chrono::milliseconds hold_ttl)
      : pool_(pool), hold_ttl_(hold_ttl) {}

  HttpReply create_sale(const SaleSpec& sale) override;
  HttpReply issue_coupon(const std::string& coupon, const std::string& user) override;
  HttpReply create_order(const std::string& sale, const std::string& user, const std::string& sku,
                         std::int64_t quantity) override;
  HttpReply confirm_order(const std::string& order_id) override;
  HttpReply ranking_top(std::size_t n) override;
  HttpReply end_sale(const std::string& sale) override;
  HttpReply check_sale(const std::string& sale) override;

 private:
  PgPool& pool_;
  std::chrono::milliseconds hold_ttl_;
};

// Records the sale in `sales` (false when it exists), inside the caller's transaction.
bool insert_sale_row(PGconn* connection, const SaleSpec& sale);

}  // namespace shop
