// The send step shared by StandaloneClient and SentinelClient: refusals of a
// server in a passing state (LOADING, MASTERDOWN, TRYAGAIN) are sent again
// within a budget, and with DurabilityOptions on, a WAIT rides behind the
// scripts that may write. Private to the transport layer.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/function_ref.hpp"
#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "transport/script_call.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale::detail {

// The server refused the command without running it, and will accept it
// after a while: LOADING, MASTERDOWN, TRYAGAIN.
bool is_transient_refusal(const Reply& reply);

// Whether a call of this script may write (every script but the bundled ones
// known never to write).
bool script_may_write(const Script* script);

// Throws InvalidArgument for durability options that cannot work with these
// connection options (negative values, a WAIT longer than the command timeout)
// and a negative retry budget.
void validate_call_options(const ConnectionOptions& options);

// Writes one pipeline of owned argument lists and reads its replies (error
// replies returned in place).
using RawPipelineSender =
    FunctionRef<std::vector<Reply>(const std::vector<const std::vector<std::string>*>& commands)>;

// Writes entries[0..count) of one round as one pipeline, then `wait` when
// not null, and reads each entry's reply into replies[entry.index] and the
// WAIT's into *wait_reply. Each round may go to another connection.
using RoundSender =
    FunctionRef<void(const RoundEntry* entries, std::size_t count,
                     const std::vector<std::string>* wait, Reply* replies, Reply* wait_reply)>;

// The WAIT replies of one call and what they add up to. Not thread-safe.
class WaitTally {
 public:
  explicit WaitTally(DurabilityOptions durability);

  // The WAIT command to append, or nullptr when durability is off.
  const std::vector<std::string>* wait_command() const { return wait_.empty() ? nullptr : &wait_; }
  // Counts the reply of a WAIT that followed at least one successful write.
  void record(const Reply& wait_reply);
  // Throws DurabilityError carrying `replies` when a recorded WAIT was
  // confirmed by fewer replicas than asked; else returns them.
  std::vector<Reply> checked(std::vector<Reply> replies) const;
  // The same for replies[0..count): throws (moving them into the error) or
  // leaves them.
  void check(Reply* replies, std::size_t count) const;

 private:
  DurabilityOptions durability_;
  std::vector<std::string> wait_;
  bool short_ = false;
  int fewest_acknowledged_ = 0;
  std::string wait_problem_;
};

// How one client call is sent: the retry budget (counted from the start of
// the call), the durability options, the refusals to retry besides LOADING,
// MASTERDOWN and TRYAGAIN (the Sentinel client adds READONLY, re-resolving
// the master as a side effect; empty adds none) and the metrics (null: off)
// that count NOSCRIPT fallbacks and retried entries.
struct CallSteps {
  std::chrono::milliseconds budget{0};
  DurabilityOptions durability;
  CallMetrics* metrics = nullptr;
  std::function<bool(const Reply&)> refused;
};

// The one send loop of StandaloneClient and SentinelClient, for `count`
// entries (script calls when `scripts`, else plain commands), their replies
// written to replies[0..count): the first round sends them all (scripts as
// EVALSHA); an entry answered NOSCRIPT goes again as EVAL, and one refused in
// a passing state goes again after a pause while the budget lasts (then its
// last refusal stays in place), both in the next round, in their original
// order. With durability on, a WAIT follows every round that holds an entry
// for which may_write(index) is true, and a WAIT after a successful write
// confirmed by fewer replicas than asked makes the call throw
// DurabilityError carrying the replies. Error replies stay in place.
void run_durable_rounds(std::size_t count, bool scripts, FunctionRef<bool(std::size_t)> may_write,
                        RoundSender send, const CallSteps& steps, Reply* replies);

// run_durable_rounds for script calls (each with a script). `send` writes
// calls[entry.index] for each entry.
void run_durable_scripts(const ScriptCallView* calls, std::size_t count, RoundSender send,
                         const CallSteps& steps, Reply* replies);

// Plain commands (no WAIT, no NOSCRIPT): refusals retried.
std::vector<Reply> run_retried_commands(
    const std::vector<const std::vector<std::string>*>& commands, RawPipelineSender raw,
    const CallSteps& steps);

}  // namespace flashsale::detail
