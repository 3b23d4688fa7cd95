// The shop's PostgreSQL tables (both modes use the same ones):
//   sales(name PK, coupon_total, skus, stock)
//   coupons(coupon_id PK, total, remaining)       postgres mode: live; library: write-back
//   user_coupons(coupon_id, user_id PK pair, sequence)  one row per issued unit
//   stock(sale, sku PK pair, initial, available, held, confirmed)  ditto
//   orders(order_id PK, sale, user_id, sku, quantity, state, expires_at)
//   the outbox tables of flashsale::PostgresOutboxStore
#pragma once

#include <libpq-fe.h>

namespace shop {

// Idempotent; runs outside any transaction.
void create_shop_schema(PGconn* connection);

}  // namespace shop
