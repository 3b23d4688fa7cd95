#include "shop_schema.hpp"

#include <flashsale/postgres_outbox_store.hpp>

#include "pg_pool.hpp"

namespace shop {

void create_shop_schema(PGconn* connection) {
  pg_execute(connection, R"sql(
    CREATE TABLE IF NOT EXISTS sales (name TEXT PRIMARY KEY, coupon_total BIGINT NOT NULL,
                                      skus BIGINT NOT NULL, stock BIGINT NOT NULL);
    CREATE TABLE IF NOT EXISTS coupons (coupon_id TEXT PRIMARY KEY, total BIGINT NOT NULL,
                                        remaining BIGINT NOT NULL CHECK (remaining >= 0));
    CREATE TABLE IF NOT EXISTS user_coupons (coupon_id TEXT NOT NULL, user_id TEXT NOT NULL,
                                             sequence BIGINT NOT NULL,
                                             PRIMARY KEY (coupon_id, user_id));
    CREATE TABLE IF NOT EXISTS stock (sale TEXT NOT NULL, sku TEXT NOT NULL,
                                      initial BIGINT NOT NULL,
                                      available BIGINT NOT NULL CHECK (available >= 0),
                                      held BIGINT NOT NULL, confirmed BIGINT NOT NULL,
                                      PRIMARY KEY (sale, sku));
    CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, sale TEXT NOT NULL,
                                       user_id TEXT NOT NULL, sku TEXT NOT NULL,
                                       quantity BIGINT NOT NULL, state TEXT NOT NULL,
                                       expires_at TIMESTAMPTZ);
    CREATE INDEX IF NOT EXISTS orders_by_state_sku ON orders (state, sku);
  )sql");
  flashsale::PostgresOutboxStore::create_schema(connection);
}

}  // namespace shop
