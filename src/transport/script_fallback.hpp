// NOSCRIPT handling as a client-independent step: every call goes out as
// EVALSHA, and the calls a server answered NOSCRIPT (restart, failover,
// SCRIPT FLUSH, a node that never ran the script) go out again as EVAL, which
// caches the script where it ran. Private to the transport layer (the
// cluster client; the standalone and Sentinel clients retry in
// durable_sender.hpp's rounds).
#pragma once

#include <cstddef>
#include <vector>

#include "common/function_ref.hpp"
#include "flashsale/metrics.hpp"
#include "flashsale/reply.hpp"
#include "transport/script_call.hpp"

namespace flashsale::detail {

// Sends one pipeline: entries[i] names the call (and whether it goes out as
// EVAL) whose command is i-th; returns one reply per entry, in order.
using ScriptPipelineSender =
    FunctionRef<std::vector<Reply>(const std::vector<RoundEntry>& entries)>;

// Replies to calls 0..count, in order; error replies stay in place. The
// first pipeline sends every call as EVALSHA, the second the calls answered
// NOSCRIPT as EVAL, in their original order. `fallbacks` (may be null)
// counts the calls sent again with EVAL.
std::vector<Reply> run_scripts_with_eval_fallback(std::size_t count, ScriptPipelineSender send,
                                                  Counter* fallbacks = nullptr);

}  // namespace flashsale::detail
