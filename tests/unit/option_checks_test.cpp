// One message style for every refused option: "<Options>::<field> <rule>, got <value>".
#include "common/option_checks.hpp"

#include <chrono>
#include <string>

#include "catch.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/error.hpp"

using namespace std::chrono_literals;
using flashsale::detail::OptionChecks;

namespace {

template <typename Call>
std::string refusal(Call call) {
  try {
    call();
  } catch (const flashsale::InvalidArgument& error) {
    return error.what();
  }
  return "(nothing thrown)";
}

}  // namespace

TEST_CASE("option checks name the struct, the field, the rule and the value", "[unit][options]") {
  const OptionChecks checks("ExampleOptions");
  CHECK(refusal([&] { checks.between("size", std::size_t{0}, std::size_t{1}, std::size_t{8}); }) ==
        "ExampleOptions::size must be between 1 and 8, got 0");
  CHECK(refusal([&] { checks.at_least("interval", 0ms, 1ms); }) ==
        "ExampleOptions::interval must be at least 1 ms, got 0 ms");
  CHECK(refusal([&] { checks.at_most("cap", 9, 8); }) ==
        "ExampleOptions::cap must be at most 8, got 9");
  CHECK(refusal([&] { checks.require(false, "ratio", "must be between 0 and 0.5", 0.75); }) ==
        "ExampleOptions::ratio must be between 0 and 0.5, got 0.75");
  CHECK_NOTHROW(
      checks.between("size", 1, 1, 8).at_least("interval", 5ms, 1ms).at_most("cap", 8, 8));
}

TEST_CASE("a component refuses an option in that style before connecting", "[unit][options]") {
  flashsale::ClusterClientOptions options;
  options.seeds = {"127.0.0.1:1"};
  options.pool.size = 0;
  CHECK(refusal([&] { flashsale::ClusterClient client(options); }) ==
        "ClusterClientOptions::pool.size must be at least 1, got 0");
  options.pool.size = 1;
  options.max_redirects = -1;
  CHECK(refusal([&] { flashsale::ClusterClient client(options); }) ==
        "ClusterClientOptions::max_redirects must be at least 0, got -1");
}
