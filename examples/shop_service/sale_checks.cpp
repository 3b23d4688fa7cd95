#include "sale_checks.hpp"

#include <fmt/core.h>

#include <chrono>
#include <thread>

namespace shop {

HttpReply check_sale_rows(PGconn* connection, const std::string& sale,
                          const std::function<StockSide()>& read_side) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  long long coupon_rows = 0;
  long long outbox_pending = 0;
  StockSide side;
  for (;;) {
    side = read_side();
    coupon_rows =
        pg_number(connection, "SELECT count(*) FROM user_coupons WHERE coupon_id = $1", {sale});
    outbox_pending = pg_number(connection,
                               "SELECT count(*) FROM flashsale_outbox WHERE aggregate_type = "
                               "'order' AND position(convert_to($1 || '.', 'UTF8') IN "
                               "aggregate_id) = 1 AND state <> 1",
                               {sale});
    if ((coupon_rows == side.coupons_issued && outbox_pending == 0) ||
        std::chrono::steady_clock::now() > deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const long long duplicate_users = pg_number(
      connection,
      "SELECT count(*) - count(DISTINCT user_id) FROM user_coupons WHERE coupon_id = $1", {sale});
  const long long orders_confirmed = pg_number(
      connection, "SELECT count(*) FROM orders WHERE sale = $1 AND state = 'confirmed'", {sale});
  const long long units_confirmed =
      pg_number(connection,
                "SELECT sum(quantity) FROM orders WHERE sale = $1 AND state = 'confirmed'", {sale});
  const long long outbox_records =
      pg_number(connection,
                "SELECT count(*) FROM flashsale_outbox WHERE aggregate_type = 'order' AND "
                "position(convert_to($1 || '.', 'UTF8') IN aggregate_id) = 1",
                {sale});
  const bool ok = side.skus_out_of_balance == 0 && side.coupons_issued <= side.coupon_total &&
                  coupon_rows == side.coupons_issued && duplicate_users == 0 &&
                  units_confirmed == side.confirmed_units && outbox_records == orders_confirmed &&
                  outbox_pending == 0;
  return {ok ? 200 : 500,
          fmt::format("{{\"sale\":\"{}\",\"ok\":{},\"skus_out_of_balance\":{},"
                      "\"coupons_issued\":{},\"coupon_total\":{},\"coupon_rows\":{},"
                      "\"duplicate_users\":{},\"units_confirmed_stock\":{},"
                      "\"units_confirmed_orders\":{},\"units_held\":{},\"orders_confirmed\":{},"
                      "\"outbox_records\":{},\"outbox_pending\":{}}}",
                      sale, ok, side.skus_out_of_balance, side.coupons_issued, side.coupon_total,
                      coupon_rows, duplicate_users, side.confirmed_units, units_confirmed,
                      side.held_units, orders_confirmed, outbox_records, outbox_pending)};
}

}  // namespace shop
