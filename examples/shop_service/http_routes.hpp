// The shop's HTTP API (cpp-httplib), the same for both designs:
//   POST /sales?name=S&coupon_total=N&skus=K&stock=U    a sale (coupon S, SKUs 1..K)
//   POST /coupons/{coupon}/issue?user=U                 201 issued, 409, 410, 404
//   POST /orders?sale=S&user=U&sku=K[&quantity=Q]       202 {"order_id"}: a hold
//   POST /orders/{order_id}/confirm                     200, 410 expired, 404
//   GET  /ranking/top[?n=10]                            best-selling SKUs
//   POST /sales/{sale}/end                              end of sale: write-back
//   GET  /sales/{sale}/check                            200 when every invariant holds
//   GET  /health                                        200
// Bad parameters: 400 before the backend is called. An exception: 500 with
// its message (503 when Redis or PostgreSQL is unreachable).
#pragma once

#include <httplib.h>

#include "shop_backend.hpp"

namespace shop {

void add_shop_routes(httplib::Server& server, ShopBackend& backend);

}  // namespace shop
