#include "flashsale/script.hpp"

#include <string>

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

TEST_CASE("a script call becomes EVALSHA with key count then keys then args", "[script]") {
  const flashsale::ScriptCall call{&flashsale::bundled_script("issue_coupon"), {"k1", "k2"}, {"a"}};
  const auto arguments = flashsale::detail::evalsha_arguments(call);
  REQUIRE(arguments.size() == 6);
  CHECK(arguments[0] == "EVALSHA");
  CHECK(arguments[1] == call.script->sha1);
  CHECK(arguments[2] == "2");
  CHECK(arguments[3] == "k1");
  CHECK(arguments[5] == "a");
  CHECK(flashsale::detail::eval_arguments(call)[1] == call.script->source);
  CHECK_THROWS_AS(flashsale::detail::evalsha_arguments(flashsale::ScriptCall{}),
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
