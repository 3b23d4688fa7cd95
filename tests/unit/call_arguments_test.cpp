// The allocation-free building blocks of a script call: keys in one buffer,
// numbers in an inline buffer, views of both.
#include "common/call_arguments.hpp"

#include <array>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "flashsale/client.hpp"
#include "flashsale/error.hpp"

using flashsale::KeySpace;
using flashsale::detail::Decimal;
using flashsale::detail::KeySet;

TEST_CASE("a key set holds the keys KeySpace::key gives, in the order of the suffixes",
          "[call_arguments]") {
  for (const KeySpace& space : {KeySpace(), KeySpace("shop:eu")}) {
    const std::array<std::string_view, 3> suffixes = {"meta", "stock", "a-much-longer-suffix"};
    const KeySet<3> keys(space, "coupon", "summer-sale", suffixes);
    for (std::size_t index = 0; index < suffixes.size(); ++index) {
      CHECK(keys[index] == space.key("coupon", "summer-sale", suffixes[index]));
      CHECK(keys.keys()[index] == keys[index]);
    }
  }
}

TEST_CASE("a key set gives its keys as a script call's KEYS and as owned strings",
          "[call_arguments]") {
  const KeySet<2> keys(KeySpace("shop"), "room", "r1", {"waiting", "state"});
  const flashsale::ArgumentViews views = keys.views();
  REQUIRE(views.size() == 2);
  CHECK(views[0] == "shop:room:{r1}:waiting");
  CHECK(views[1] == "shop:room:{r1}:state");
  CHECK(keys.strings() ==
        std::vector<std::string>{"shop:room:{r1}:waiting", "shop:room:{r1}:state"});
}

TEST_CASE("a key set refuses the ids KeySpace refuses, with the same message", "[call_arguments]") {
  const KeySpace space;
  for (const std::string& bad : {std::string(), std::string("a{b"), std::string("a b"),
                                 std::string(flashsale::kMaxKeyIdBytes + 1, 'x')}) {
    std::string expected;
    try {
      space.tagged("coupon", bad);
    } catch (const flashsale::InvalidArgument& error) {
      expected = error.what();
    }
    REQUIRE_FALSE(expected.empty());
    CHECK_THROWS_WITH((KeySet<1>(space, "coupon", bad, {"meta"})), expected);
  }
}

TEST_CASE("a decimal is the integer's text, extremes included", "[call_arguments]") {
  CHECK(Decimal(0).view() == "0");
  CHECK(Decimal(-42).view() == "-42");
  CHECK(Decimal(std::int64_t{1} << 53).view() == "9007199254740992");
  CHECK(Decimal(std::numeric_limits<std::int64_t>::min()).view() == "-9223372036854775808");
  CHECK(Decimal(std::numeric_limits<std::int64_t>::max()).view() == "9223372036854775807");
}

TEST_CASE("argument views see a braced list, a vector or a pointer and count in order",
          "[call_arguments]") {
  const auto joined = [](flashsale::ArgumentViews views) {
    std::string text;
    for (const auto view : views) {
      text += std::string(view) + "|";
    }
    return text + std::to_string(views.size());
  };
  CHECK(joined({"a", "bc", std::string_view("\0d", 2)}) == std::string("a|bc|\0d|3", 9));
  const std::vector<std::string_view> vector = {"x", "y"};
  CHECK(joined(vector) == "x|y|2");
  CHECK(joined({vector.data() + 1, 1}) == "y|1");
  CHECK(joined({}) == "0");
  CHECK(flashsale::ArgumentViews().empty());
}

namespace {
struct CachedSite;
}  // namespace

TEST_CASE("thread-cached keys follow the id and the prefix and never cache a refused id",
          "[call_arguments]") {
  const std::array<std::string_view, 2> suffixes = {"meta", "stock"};
  const KeySpace plain;
  const KeySpace other("shop:eu");
  const auto keys_of = [&](const KeySpace& space, std::string_view id) {
    const auto& keys =
        flashsale::detail::thread_cached_keys<CachedSite>(space, "coupon", id, suffixes);
    return std::vector<std::string>{std::string(keys[0]), std::string(keys[1])};
  };
  for (int round = 0; round < 2; ++round) {  // the second round hits the cache
    CHECK(keys_of(plain, "a") == std::vector<std::string>{plain.key("coupon", "a", "meta"),
                                                          plain.key("coupon", "a", "stock")});
    CHECK(keys_of(plain, "a") == std::vector<std::string>{plain.key("coupon", "a", "meta"),
                                                          plain.key("coupon", "a", "stock")});
  }
  CHECK(keys_of(plain, "b")[0] == plain.key("coupon", "b", "meta"));
  CHECK(keys_of(other, "b")[0] == other.key("coupon", "b", "meta"));
  CHECK_THROWS_AS(keys_of(other, "bad{id}"), flashsale::InvalidArgument);
  CHECK_THROWS_AS(keys_of(other, "bad{id}"), flashsale::InvalidArgument);  // refused again
  CHECK(keys_of(other, "b")[1] == other.key("coupon", "b", "stock"));
}
