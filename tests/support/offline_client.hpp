// What the bad-input tests share: a client pointing where nothing answers
// (a call that reached I/O would fail with ConnectionError, not the
// InvalidArgument the tests expect) and a valid coupon template to spoil.
#pragma once

#include <chrono>

#include "flashsale/coupon_issuer.hpp"
#include "flashsale/standalone_client.hpp"

namespace flashsale::testing {

inline StandaloneClient unreachable_client() {
  ConnectionOptions options;
  options.port = 1;  // privileged and unused: nothing answers here
  return StandaloneClient(options);
}

inline CouponTemplate valid_coupon_template() {
  using namespace std::chrono_literals;
  CouponTemplate coupon;
  coupon.id = "summer";
  coupon.total = 100;
  coupon.opens_at = std::chrono::system_clock::time_point(1'700'000'000'000ms);
  coupon.closes_at = coupon.opens_at + 1h;
  return coupon;
}

}  // namespace flashsale::testing
