#include "flashsale/script.hpp"

#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "transport/script_call.hpp"

TEST_CASE("every lua file is bundled with a 40-digit lowercase SHA1", "[script]") {
  const auto& scripts = flashsale::bundled_scripts();
  REQUIRE_FALSE(scripts.empty());
  for (const auto& script : scripts) {
    INFO(std::string(script.name));
    CHECK_FALSE(script.source.empty());
    REQUIRE(script.sha1.size() == 40);
    CHECK(script.sha1.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
  CHECK(flashsale::bundled_script("issue_coupon").name == "issue_coupon");
}

TEST_CASE("an unknown script name is refused", "[script]") {
  CHECK_THROWS_AS(flashsale::bundled_script("no_such_script"), flashsale::InvalidArgument);
}

TEST_CASE("script calls are viewed in place: keys then arguments, no copy", "[script]") {
  const std::vector<flashsale::ScriptCall> calls{
      {&flashsale::bundled_script("issue_coupon"), {"k1", "k2"}, {"a"}},
      {&flashsale::bundled_script("reserve_stock"), {}, {"b", "c"}}};
  const flashsale::detail::ScriptCallViews views(calls);
  REQUIRE(views.calls().size() == 2);
  const auto& first = views.calls()[0];
  CHECK(first.script == calls[0].script);
  REQUIRE(first.keys.size() == 2);
  CHECK(first.keys[1] == "k2");
  CHECK(first.keys[0].data() == calls[0].keys[0].data());
  REQUIRE(first.arguments.size() == 1);
  CHECK(first.arguments[0].data() == calls[0].arguments[0].data());
  CHECK(views.calls()[1].keys.empty());
  CHECK(views.calls()[1].arguments[1] == "c");
  CHECK_THROWS_AS(flashsale::detail::ScriptCallViews({flashsale::ScriptCall{}}),
                  flashsale::InvalidArgument);
}

TEST_CASE("shared lua fragments are expanded into the scripts before hashing", "[script]") {
  for (const auto& script : flashsale::bundled_scripts()) {
    INFO(std::string(script.name));
    CHECK(script.source.find("--- @include") == std::string_view::npos);
  }
  const auto& reserve = flashsale::bundled_script("reserve_stock").source;
  CHECK(reserve.find("local function expire_hold(") != std::string_view::npos);
  CHECK(reserve.find("local function append_event(") != std::string_view::npos);
  CHECK(reserve.find("local function server_time_ms(") != std::string_view::npos);
}
