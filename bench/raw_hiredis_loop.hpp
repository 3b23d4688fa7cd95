// The baseline of coupon_ceiling_bench: a command driven through plain
// hiredis, as a user would write it by hand. One redisContext per thread,
// redisAppendCommandArgv + redisGetReply, `pipeline` commands written before
// the first reply is read. No library code.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct RawHiredisLoop {
  std::string host;
  int port = 0;
  int threads = 1;
  int pipeline = 1;
  std::int64_t operations_per_thread = 0;
  // The command; arguments[user_argument] is replaced by "user:<random in
  // [0, user_range)>" for every call.
  std::vector<std::string> arguments;
  std::size_t user_argument = 0;
  std::int64_t user_range = 1;
  // The socket timeout set with redisSetTimeout; zero sets none (hiredis's
  // default, and a hand-written loop's usual).
  std::chrono::milliseconds timeout{0};
};

struct RawHiredisResult {
  std::int64_t calls = 0;
  std::int64_t issued = 0;  // replies whose first element is "issued"
  double seconds = 0;
  std::uint64_t allocations = 0;  // operator new calls in the loops' threads
};

// Throws std::runtime_error when a context fails or a reply is an error.
RawHiredisResult run_raw_hiredis_loop(const RawHiredisLoop& loop);

}  // namespace bench
