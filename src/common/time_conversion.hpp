// Milliseconds since the Unix epoch <-> system_clock time points: the one
// conversion for server times, deadlines and stored timestamps.
#pragma once

#include <chrono>
#include <cstdint>

namespace flashsale::detail {

// Truncates toward zero (a time before the epoch gives a negative count).
inline std::int64_t to_epoch_ms(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

inline std::chrono::system_clock::time_point from_epoch_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::milliseconds(ms)));
}

}  // namespace flashsale::detail
