// NOSCRIPT handling as a client-independent step: every call goes out as
// EVALSHA, and the calls a server answered NOSCRIPT (restart, failover,
// SCRIPT FLUSH, a node that never ran the script) go out again as EVAL, which
// caches the script where it ran. Private to the transport layer.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/metrics.hpp"

namespace flashsale::detail {

// Sends a pipeline: arguments[i] is the command for calls[call_indices[i]];
// returns one reply per command, in order.
using ScriptPipelineSender =
    std::function<std::vector<Reply>(const std::vector<const std::vector<std::string>*>& arguments,
                                     const std::vector<std::size_t>& call_indices)>;

// Replies in the order of `calls`; error replies stay in place. Throws
// InvalidArgument for a call without a script (before sending anything).
// `fallbacks` (may be null) counts the calls sent again with EVAL.
std::vector<Reply> run_scripts_with_eval_fallback(const std::vector<ScriptCall>& calls,
                                                  const ScriptPipelineSender& send,
                                                  Counter* fallbacks = nullptr);

}  // namespace flashsale::detail
