// The one check of an incarnation (epoch) a caller hands to a restore call,
// and of a point in time a caller hands to a script (opens_at, closes_at).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string_view>

#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"

namespace flashsale::detail {

// Throws InvalidArgument unless low <= epoch < 2^53: epochs are server-clock
// microseconds, exact in Lua's doubles, and a restore script adds 1 to
// `after_epoch`.
inline void validate_epoch(std::int64_t epoch, std::int64_t low, std::string_view what) {
  if (epoch < low || epoch >= kMaxQuantity) {
    throw InvalidArgument(
        fmt::format("{} must be between {} and 2^53 - 1, got {}", what, low, epoch));
  }
}

// Throws InvalidArgument unless 0 <= milliseconds <= 2^53: a time a script
// compares with the server clock, in milliseconds since the Unix epoch.
inline void validate_epoch_ms(std::int64_t milliseconds, std::string_view what) {
  if (milliseconds < 0 || milliseconds > kMaxQuantity) {
    throw InvalidArgument(fmt::format(
        "{} must be between the Unix epoch and 2^53 ms after it, got {} ms", what, milliseconds));
  }
}

}  // namespace flashsale::detail
