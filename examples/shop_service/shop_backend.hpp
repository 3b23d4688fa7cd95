// What the HTTP routes call: one implementation on flashsale (LibraryShop),
// one directly in PostgreSQL (PostgresShop, the baseline). Every call returns
// the HTTP status and a JSON body; ids reaching here were checked by the
// routes (1..64 of [A-Za-z0-9_-]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shop {

struct HttpReply {
  int status = 500;
  std::string body;  // JSON
};

// A sale: coupon `<name>` with `coupon_total` units (one per user) and SKUs
// "1".."skus" with `stock` units each.
struct SaleSpec {
  std::string name;
  std::int64_t coupon_total = 0;
  std::int64_t skus = 0;
  std::int64_t stock = 0;
};

// Order ids are "<sale>.<user>.<n>": the confirm call finds the sale and the
// user in the id, so a hold needs no side record.
class ShopBackend {
 public:
  virtual ~ShopBackend() = default;
  // 201 created, 409 the sale exists.
  virtual HttpReply create_sale(const SaleSpec& sale) = 0;
  // 201 issued, 409 already issued to the user, 410 sold out, 404 unknown coupon.
  virtual HttpReply issue_coupon(const std::string& coupon, const std::string& user) = 0;
  // 202 held (body: order_id) for hold_ttl, 409 not enough stock, 404 unknown SKU.
  virtual HttpReply create_order(const std::string& sale, const std::string& user,
                                 const std::string& sku, std::int64_t quantity) = 0;
  // 200 confirmed (again on a retry), 410 expired or released, 404 unknown order.
  virtual HttpReply confirm_order(const std::string& order_id) = 0;
  // 200, body {"source": "redis"|"database", "top": [{"sku","sold"}...]}.
  virtual HttpReply ranking_top(std::size_t n) = 0;
  // 200: the sale's final figures, written back to PostgreSQL.
  virtual HttpReply end_sale(const std::string& sale) = 0;
  // 200 when every invariant of the sale holds, else 500; body: the figures.
  virtual HttpReply check_sale(const std::string& sale) = 0;
};

}  // namespace shop
