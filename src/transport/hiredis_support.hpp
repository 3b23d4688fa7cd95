// hiredis types turned into the library's: replies, timeouts, endpoints and
// context errors, for Connection and SharedConnection. Private to the
// transport layer.
#pragma once

#include <sys/time.h>

#include <chrono>
#include <string>

#include "flashsale/connection_options.hpp"
#include "flashsale/reply.hpp"
#include "transport/hiredis_compat.hpp"

namespace flashsale::detail {

// One shape of Reply per hiredis type; arrays, and on hiredis 1.x maps, sets
// and pushes, all flattened to arrays.
Reply to_reply(const redisReply& raw);

// hiredis takes a zero timeval as "no timeout".
timeval to_timeval(std::chrono::milliseconds duration);

// "host:port", or the unix socket's path.
std::string endpoint(const ConnectionOptions& options);

// The one mapping from a hiredis context error to the error tree. `timeout`
// is the limit that was in force, named in a TimeoutError's message.
[[noreturn]] void throw_context_error(const redisContext& context, int saved_errno,
                                      const std::string& where, std::chrono::milliseconds timeout);

}  // namespace flashsale::detail
