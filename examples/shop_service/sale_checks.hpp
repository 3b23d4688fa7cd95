// The correctness check after a run, the same for both designs: what the
// stock side (Redis or the stock table) says against the rows in PostgreSQL.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "pg_pool.hpp"
#include "shop_backend.hpp"

namespace shop {

// The stock side's figures of one sale, summed over its SKUs.
struct StockSide {
  std::int64_t skus_out_of_balance = 0;  // available < 0 or available+held+confirmed != initial
  std::int64_t confirmed_units = 0;
  std::int64_t held_units = 0;      // reported, not checked: holds come and go
  std::int64_t coupons_issued = 0;  // units handed out by the coupon's own count
  std::int64_t coupon_total = 0;
};

// Waits (up to 10 s) for the coupon rows and the outbox to catch up (reading
// the stock side again each time: requests still in flight may move it), then
// checks: no SKU out of balance (no oversell), coupons issued <= total and
// exactly one row per issued unit (one per user by the primary key),
// confirmed units in orders == the stock side's, one outbox record per
// confirmed order, all of them published. 200 when all hold, else 500.
HttpReply check_sale_rows(PGconn* connection, const std::string& sale,
                          const std::function<StockSide()>& read_side);

}  // namespace shop
