#include "flashsale/key_space.hpp"

#include <string>

#include "catch.hpp"
#include "flashsale/error.hpp"

using flashsale::InvalidArgument;
using flashsale::KeySpace;

TEST_CASE("keys carry the id as a hash tag under the prefix", "[key_space]") {
  const KeySpace keys;
  CHECK(keys.key("coupon", "summer-sale", "stock") == "fs:coupon:{summer-sale}:stock");
  CHECK(keys.tagged("stock", "deal-1") == "fs:stock:{deal-1}");
  CHECK(KeySpace("shop:eu").key("rank", "best", "agg") == "shop:eu:rank:{best}:agg");
}

TEST_CASE("ids that would break the key schema are refused", "[key_space]") {
  const KeySpace keys;
  const std::string bad_ids[] = {
      "",      "{",      "}", "a b", "a\nb", std::string("a\0b", 3), std::string(129, 'x'),
      "tab\t", "del\x7f"};
  for (const auto& id : bad_ids) {
    CHECK_THROWS_AS(keys.key("coupon", id, "stock"), InvalidArgument);
    CHECK_THROWS_AS(flashsale::validate_key_id(id, "coupon id"), InvalidArgument);
  }
  CHECK_NOTHROW(flashsale::validate_key_id(std::string(128, 'x'), "coupon id"));
  CHECK_THROWS_AS(KeySpace(""), InvalidArgument);
  CHECK_THROWS_AS(KeySpace("a{b"), InvalidArgument);
}

TEST_CASE("the error message names the value and the rule", "[key_space]") {
  try {
    flashsale::validate_key_id("bad id", "coupon id");
    FAIL("no exception");
  } catch (const InvalidArgument& error) {
    const std::string message = error.what();
    CHECK(message.find("coupon id") != std::string::npos);
    CHECK(message.find("whitespace") != std::string::npos);
  }
}

TEST_CASE("member ids may hold any bytes up to their limit", "[key_space]") {
  CHECK_NOTHROW(flashsale::validate_member_id(std::string("{ }\n\0", 5), "user id", 64));
  CHECK_THROWS_AS(flashsale::validate_member_id("", "user id", 64), InvalidArgument);
  CHECK_THROWS_AS(flashsale::validate_member_id(std::string(65, 'u'), "user id", 64),
                  InvalidArgument);
}

TEST_CASE("quantities are positive and at most 2^53", "[key_space]") {
  CHECK_NOTHROW(flashsale::validate_quantity(1, "quantity"));
  CHECK_NOTHROW(flashsale::validate_quantity(flashsale::kMaxQuantity, "quantity"));
  CHECK_THROWS_AS(flashsale::validate_quantity(0, "quantity"), InvalidArgument);
  CHECK_THROWS_AS(flashsale::validate_quantity(-5, "quantity"), InvalidArgument);
  CHECK_THROWS_AS(flashsale::validate_quantity(flashsale::kMaxQuantity + 1, "quantity"),
                  InvalidArgument);
}
