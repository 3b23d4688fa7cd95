// The one check of an incarnation (epoch) a caller hands to a restore call.
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

}  // namespace flashsale::detail
