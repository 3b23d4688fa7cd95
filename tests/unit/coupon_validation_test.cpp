// FirstComeCouponIssuer refuses bad input before any I/O. The client points at
// a port where nothing listens: had anything been sent, the calls would raise
// ConnectionError instead of InvalidArgument.
#include <chrono>
#include <cstdint>
#include <string>

#include "catch.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "offline_client.hpp"

using namespace std::chrono_literals;
using flashsale::CouponTemplate;
using flashsale::FirstComeCouponIssuer;
using flashsale::FirstComeCouponIssuerOptions;
using flashsale::InvalidArgument;
using flashsale::testing::unreachable_client;
using flashsale::testing::valid_coupon_template;

namespace {

FirstComeCouponIssuerOptions offline_options() {
  FirstComeCouponIssuerOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  return options;
}

}  // namespace

TEST_CASE("templates outside the documented ranges are refused without I/O", "[coupon]") {
  auto client = unreachable_client();
  FirstComeCouponIssuer issuer(client, offline_options());

  auto coupon = valid_coupon_template();
  coupon.total = flashsale::kMaxQuantity + 1;
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);
  coupon.total = 0;
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);

  coupon = valid_coupon_template();
  coupon.per_user_limit = 0;
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);
  coupon.per_user_limit = flashsale::kMaxCouponPerUserLimit + 1;
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);

  coupon = valid_coupon_template();
  coupon.closes_at = coupon.opens_at + 999us;  // the same millisecond: an empty window
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);
  coupon.closes_at = coupon.opens_at - 1ms;
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);

  coupon = valid_coupon_template();
  coupon.id = "tab\tbed";
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);

  // Valid input does reach for the server (and finds nobody).
  CHECK_THROWS_AS(issuer.register_template(valid_coupon_template()), flashsale::ConnectionError);
}

TEST_CASE("user ids are limited by max_user_id_bytes and may hold any bytes", "[coupon]") {
  auto client = unreachable_client();
  auto options = offline_options();
  options.max_user_id_bytes = 8;
  FirstComeCouponIssuer issuer(client, options);
  CHECK_THROWS_AS(issuer.issue("summer", "123456789"), InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("summer", ""), InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("summer", std::string("\0\0\0\0\0\0\0\0\0", 9)), InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("summer", std::string("\0{ }\n\xff", 6)),
                  flashsale::ConnectionError);
}

TEST_CASE("options outside their ranges are refused by the constructor", "[coupon]") {
  auto client = unreachable_client();
  auto options = offline_options();
  options.max_stream_length = flashsale::kMaxStreamLengthLimit + 1;
  CHECK_THROWS_AS(FirstComeCouponIssuer(client, options), InvalidArgument);
  options = offline_options();
  options.max_user_id_bytes = 0;
  CHECK_THROWS_AS(FirstComeCouponIssuer(client, options), InvalidArgument);
  options.max_user_id_bytes = flashsale::kMaxMemberIdBytesLimit + 1;
  CHECK_THROWS_AS(FirstComeCouponIssuer(client, options), InvalidArgument);
}
