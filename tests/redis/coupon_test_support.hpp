// Helpers shared by the FirstComeCouponIssuer tests: an open coupon by the
// server clock, the coupon's events stream read back, a dataset digest.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

namespace flashsale::testing::coupon {

// A coupon open from an hour ago (by the server clock) for a day.
inline CouponTemplate open_coupon(Client& client, std::string id, std::int64_t total,
                                  std::int64_t per_user_limit = 1) {
  using namespace std::chrono_literals;
  const auto now = server_now(client);
  CouponTemplate coupon;
  coupon.id = std::move(id);
  coupon.total = total;
  coupon.opens_at = now - 1h;
  coupon.closes_at = now + 24h;
  coupon.per_user_limit = per_user_limit;
  return coupon;
}

// Every event of the coupon (default key prefix), oldest first.
inline std::vector<StreamEntry> read_events(Client& client, const std::string& coupon_id) {
  return read_stream(client, "fs:coupon:{" + coupon_id + "}:events");
}

// DEBUG DIGEST of the whole dataset: equal digests mean an unchanged Redis.
inline std::string dataset_digest(RedisServer& server) {
  return server.admin().execute({{"DEBUG", "DIGEST"}, {}, {}}).as_string();
}

}  // namespace flashsale::testing::coupon
