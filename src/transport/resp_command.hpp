// Commands in RESP (the protocol's array of bulk strings), formatted by the
// library straight from the caller's strings and views into a reusable
// buffer: what Connection hands to hiredis (redisAppendFormattedCommand) and
// SharedConnection to send(). One pass and one copy of each argument; hiredis's
// own formatter (redisAppendCommandArgv) costs about 8k instructions for a
// coupon issue's 13 arguments. Private to the transport layer.
#pragma once

#include <string>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/export.hpp"
#include "transport/script_call.hpp"

// FLASHSALE_EXPORT: exported for the unit tests, not part of the API.
namespace flashsale::detail {

// Appends the command `arguments` (not empty) to `out`.
FLASHSALE_EXPORT void append_command(std::string& out, const std::vector<std::string>& arguments);

// Appends `call` as EVALSHA sha1, or as EVAL with the script's source when
// `eval`, with its key count, keys and arguments. The call has a script.
FLASHSALE_EXPORT void append_script_command(std::string& out, const ScriptCallView& call,
                                            bool eval);

// Appends one send round: calls[entry.index] for each of entries[0..count)
// (EVAL when entry.eval), then `wait` when not null.
FLASHSALE_EXPORT void append_script_round(std::string& out, const ScriptCallView* calls,
                                          const RoundEntry* entries, std::size_t count,
                                          const std::vector<std::string>* wait);

// Empties a reused buffer, and gives its memory back when a large command
// (a big payload) grew it beyond what the hot path needs.
FLASHSALE_EXPORT void reset_command_buffer(std::string& out);

}  // namespace flashsale::detail
