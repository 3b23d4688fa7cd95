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

// Makes hiredis parse the replies of `context` straight into Reply values
// (its redisReplyObjectFunctions), instead of its own redisReply tree that
// would then be converted: no allocation for a reply itself, one per array,
// against hiredis's one per element and one per string. Each reply is built
// in `slot`, which must outlive the context; every reply hiredis then hands
// out for this context (redisGetReply, redisReaderGetReply, redisCommand)
// points to it and must be taken (take_reply) before the next is read. Call
// right after connecting, before any command. One shape of Reply per RESP
// type; arrays, and on hiredis 1.x maps, sets and pushes, all become arrays.
// On hiredis 1.x the push callback is cleared (flashsale asks for no pushes,
// and hiredis's default one would read its own reply type).
void read_replies_as_values(redisContext& context, Reply& slot);

// Moves the reply hiredis returned for such a context out of its slot.
Reply take_reply(void* raw);

// hiredis takes a zero timeval as "no timeout".
timeval to_timeval(std::chrono::milliseconds duration);

// "host:port", or the unix socket's path.
std::string endpoint(const ConnectionOptions& options);

// The one mapping from a hiredis context error to the error tree. `timeout`
// is the limit that was in force, named in a TimeoutError's message.
[[noreturn]] void throw_context_error(const redisContext& context, int saved_errno,
                                      const std::string& where, std::chrono::milliseconds timeout);

}  // namespace flashsale::detail
