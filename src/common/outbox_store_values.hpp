// Checks and conversions both SQL outbox stores (src/stores/sqlite,
// src/stores/postgres) apply to what the relay and the host pass them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

#include "flashsale/error.hpp"
#include "flashsale/outbox.hpp"

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

// The `state` column both stores keep: 0 pending, 1 published, 2 blocked.
inline OutboxRecordState outbox_record_state(std::int64_t column) {
  return column == 1   ? OutboxRecordState::Published
         : column == 2 ? OutboxRecordState::Blocked
                       : OutboxRecordState::Pending;
}

// Adds one row of "SELECT state, COUNT(*) ... GROUP BY state" to `counts`.
inline void add_outbox_count(OutboxCounts& counts, std::int64_t state, std::int64_t count) {
  switch (outbox_record_state(state)) {
    case OutboxRecordState::Published:
      counts.published += count;
      break;
    case OutboxRecordState::Blocked:
      counts.blocked += count;
      break;
    case OutboxRecordState::Pending:
      counts.pending += count;
      break;
  }
}

}  // namespace flashsale::detail
