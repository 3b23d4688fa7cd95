// Checks and conversions both SQL outbox stores (src/stores/sqlite,
// src/stores/postgres) apply to what the relay and the host pass them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale::detail {

// Record ids start at 1: InvalidArgument for anything else (before any I/O).
inline void validate_outbox_record_id(std::int64_t id) {
  if (id < 1) {
    throw InvalidArgument(fmt::format("outbox record id must be positive, got {}", id));
  }
}

// A size_t limit as an SQL BIGINT (larger limits mean "all").
inline std::int64_t sql_limit(std::size_t limit) {
  return static_cast<std::int64_t>(
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
}

}  // namespace flashsale::detail
