#include "postgres_shop.hpp"

#include <fmt/core.h>
#include <flashsale/postgres_outbox_store.hpp>

#include "order_id.hpp"
#include "replies.hpp"
#include "sale_checks.hpp"

namespace shop {
namespace {

// The rollback of an expected outcome (sold out, already issued, ...).
struct Refused {
  HttpReply reply;
};

template <typename Body>
HttpReply refusable_transaction(PGconn* connection, Body body) {
  try {
    return pg_transaction(connection, body);
  } catch (const Refused& refused) {
    return refused.reply;
  }
}

}  // namespace

bool insert_sale_row(PGconn* connection, const SaleSpec& sale) {
  const auto inserted = pg_execute(
      connection, "INSERT INTO sales VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
      {sale.name, std::to_string(sale.coupon_total), std::to_string(sale.skus),
       std::to_string(sale.stock)});
  return PQntuples(inserted.get()) == 1;
}

HttpReply PostgresShop::create_sale(const SaleSpec& sale) {
  auto lease = pool_.lease();
  return refusable_transaction(lease.get(), [&] {
    if (!insert_sale_row(lease.get(), sale)) {
      throw Refused{json_reply(409, "error", "sale exists")};
    }
    pg_execute(lease.get(), "INSERT INTO coupons VALUES ($1, $2, $2)",
               {sale.name, std::to_string(sale.coupon_total)});
    pg_execute(lease.get(),
               "INSERT INTO stock SELECT $1, g::text, $2, $2, 0, 0 FROM generate_series(1, $3) g",
               {sale.name, std::to_string(sale.stock), std::to_string(sale.skus)});
    return json_reply(201, "sale", sale.name);
  });
}

HttpReply PostgresShop::issue_coupon(const std::string& coupon, const std::string& user) {
  auto lease = pool_.lease();
  PGconn* connection = lease.get();
  return refusable_transaction(connection, [&] {
    const auto taken = pg_execute(connection,
                                  "UPDATE coupons SET remaining = remaining - 1 WHERE coupon_id = "
                                  "$1 AND remaining > 0 RETURNING total - remaining",
                                  {coupon});
    if (PQntuples(taken.get()) == 0) {
      const bool known =
          pg_number(connection, "SELECT count(*) FROM coupons WHERE coupon_id = $1", {coupon}) > 0;
      throw Refused{known ? json_reply(410, "status", "sold_out")
                          : json_reply(404, "status", "unknown_coupon")};
    }
    const std::string sequence = PQgetvalue(taken.get(), 0, 0);
    const auto inserted = pg_execute(connection,
                                     "INSERT INTO user_coupons VALUES ($1, $2, $3) "
                                     "ON CONFLICT DO NOTHING RETURNING 1",
                                     {coupon, user, sequence});
    if (PQntuples(inserted.get()) == 0) {
      throw Refused{json_reply(409, "status", "already_issued")};
    }
    return HttpReply{201, fmt::format("{{\"status\":\"issued\",\"sequence\":{}}}", sequence)};
  });
}

HttpReply PostgresShop::create_order(const std::string& sale, const std::string& user,
                                     const std::string& sku, std::int64_t quantity) {
  auto lease = pool_.lease();
  PGconn* connection = lease.get();
  const std::string units = std::to_string(quantity);
  return refusable_transaction(connection, [&] {
    const auto held = pg_execute(connection,
                                 "UPDATE stock SET available = available - $3, held = held + $3 "
                                 "WHERE sale = $1 AND sku = $2 AND available >= $3 RETURNING 1",
                                 {sale, sku, units});
    if (PQntuples(held.get()) == 0) {
      const bool known =
          pg_number(connection, "SELECT count(*) FROM stock WHERE sale = $1 AND sku = $2",
                    {sale, sku}) > 0;
      throw Refused{known ? json_reply(409, "status", "insufficient_stock")
                          : json_reply(404, "status", "unknown_sku")};
    }
    const std::string order_id = new_order_id(sale, user);
    pg_execute(connection,
               "INSERT INTO orders VALUES ($1, $2, $3, $4, $5, 'held', "
               "now() + $6 * interval '1 millisecond')",
               {order_id, sale, user, sku, units, std::to_string(hold_ttl_.count())});
    return json_reply(202, "order_id", order_id);
  });
}

HttpReply PostgresShop::confirm_order(const std::string& order_id) {
  auto lease = pool_.lease();
  PGconn* connection = lease.get();
  return refusable_transaction(connection, [&] {
    const auto order = pg_execute(connection,
                                  "UPDATE orders SET state = 'confirmed' WHERE order_id = $1 AND "
                                  "state = 'held' AND expires_at > now() "
                                  "RETURNING sale, sku, quantity",
                                  {order_id});
    if (PQntuples(order.get()) == 0) {
      const auto state =
          pg_execute(connection, "SELECT state FROM orders WHERE order_id = $1", {order_id});
      if (PQntuples(state.get()) == 0) {
        throw Refused{json_reply(404, "status", "unknown_order")};
      }
      const std::string now = PQgetvalue(state.get(), 0, 0);
      throw Refused{now == "confirmed" ? json_reply(200, "status", "confirmed")
                                       : json_reply(410, "status", "expired")};
    }
    const std::string sale = PQgetvalue(order.get(), 0, 0);
    const std::string sku = PQgetvalue(order.get(), 0, 1);
    const std::string quantity = PQgetvalue(order.get(), 0, 2);
    pg_execute(connection,
               "UPDATE stock SET held = held - $3, confirmed = confirmed + $3 "
               "WHERE sale = $1 AND sku = $2",
               {sale, sku, quantity});
    flashsale::PostgresOutboxStore::append(
        connection, {"order", order_id, "order_confirmed",
                     fmt::format("{{\"sku\":\"{}\",\"quantity\":{}}}", sku, quantity)});
    return json_reply(200, "status", "confirmed");
  });
}

HttpReply PostgresShop::ranking_top(std::size_t n) {
  auto lease = pool_.lease();
  return ranking_reply("database", top_from_orders(lease.get(), n));
}

// The stock table is the live figures already: nothing to write back. Held
// orders stay confirmable until they expire, as with StockReserver::end_sale.
HttpReply PostgresShop::end_sale(const std::string& sale) {
  auto lease = pool_.lease();
  const long long confirmed =
      pg_number(lease.get(), "SELECT sum(confirmed) FROM stock WHERE sale = $1", {sale});
  return {200, fmt::format("{{\"sale\":\"{}\",\"confirmed_units\":{}}}", sale, confirmed)};
}

HttpReply PostgresShop::check_sale(const std::string& sale) {
  auto lease = pool_.lease();
  PGconn* connection = lease.get();
  return check_sale_rows(connection, sale, [&] {
    StockSide side;
    side.skus_out_of_balance =
        pg_number(connection,
                  "SELECT count(*) FROM stock WHERE sale = $1 AND "
                  "(available < 0 OR available + held + confirmed <> initial)",
                  {sale});
    side.confirmed_units =
        pg_number(connection, "SELECT sum(confirmed) FROM stock WHERE sale = $1", {sale});
    side.held_units = pg_number(connection, "SELECT sum(held) FROM stock WHERE sale = $1", {sale});
    side.coupons_issued =
        pg_number(connection, "SELECT total - remaining FROM coupons WHERE coupon_id = $1", {sale});
    side.coupon_total =
        pg_number(connection, "SELECT total FROM coupons WHERE coupon_id = $1", {sale});
    return side;
  });
}

}  // namespace shop
