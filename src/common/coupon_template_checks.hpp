// The one check of a CouponTemplate's fields (not its id), shared by
// FirstComeCouponIssuer and ShardedCouponIssuer: InvalidArgument, before any I/O.
#pragma once

#include <fmt/format.h>

#include <cstdint>

#include "common/epoch_validation.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"

namespace flashsale::detail {

inline void validate_coupon_template(const CouponTemplate& coupon) {
  validate_quantity(coupon.total, "coupon total");
  if (coupon.per_user_limit < 1 || coupon.per_user_limit > kMaxCouponPerUserLimit) {
    throw InvalidArgument(fmt::format("per_user_limit must be between 1 and {}, got {}",
                                      kMaxCouponPerUserLimit, coupon.per_user_limit));
  }
  const std::int64_t opens_at = to_epoch_ms(coupon.opens_at);
  const std::int64_t closes_at = to_epoch_ms(coupon.closes_at);
  validate_epoch_ms(opens_at, "opens_at");
  validate_epoch_ms(closes_at, "closes_at");
  if (closes_at <= opens_at) {
    throw InvalidArgument(
        fmt::format("closes_at ({} ms) must be after opens_at ({} ms), at millisecond precision",
                    closes_at, opens_at));
  }
}

}  // namespace flashsale::detail
