// The one way components refuse an option, with one message style:
//   "StockReserverOptions::max_skus_per_cart must be between 1 and 256, got 0"
//   "OutboxRelayOptions::poll_interval must be at least 1 ms, got 0 ms"
//   "SlidingWindowRankingOptions::window must be a multiple of bucket, got 1500 ms"
// Each check throws InvalidArgument (before any I/O, from the constructor).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale::detail {

// How a value reads in a message: durations in ms, everything else as fmt prints it.
template <typename T>
std::string option_text(const T& value) {
  return fmt::format("{}", value);
}
inline std::string option_text(std::chrono::milliseconds value) {
  return fmt::format("{} ms", value.count());
}

class OptionChecks {
 public:
  // `options` names the struct, e.g. "StockReserverOptions".
  explicit OptionChecks(std::string_view options) : options_(options) {}

  template <typename T>
  const OptionChecks& between(std::string_view field, const T& value, const T& low,
                              const T& high) const {
    if (value < low || high < value) {
      fail(field, fmt::format("must be between {} and {}", option_text(low), option_text(high)),
           option_text(value));
    }
    return *this;
  }

  template <typename T>
  const OptionChecks& at_least(std::string_view field, const T& value, const T& low) const {
    if (value < low) {
      fail(field, fmt::format("must be at least {}", option_text(low)), option_text(value));
    }
    return *this;
  }

  template <typename T>
  const OptionChecks& at_most(std::string_view field, const T& value, const T& high) const {
    if (high < value) {
      fail(field, fmt::format("must be at most {}", option_text(high)), option_text(value));
    }
    return *this;
  }

  // Any other rule: "<Options>::<field> <rule>, got <value>" unless `holds`.
  template <typename T>
  const OptionChecks& require(bool holds, std::string_view field, std::string_view rule,
                              const T& value) const {
    if (!holds) {
      fail(field, rule, option_text(value));
    }
    return *this;
  }

  [[noreturn]] void fail(std::string_view field, std::string_view rule,
                         std::string_view got) const {
    throw InvalidArgument(fmt::format("{}::{} {}, got {}", options_, field, rule, got));
  }

 private:
  std::string_view options_;
};

}  // namespace flashsale::detail
