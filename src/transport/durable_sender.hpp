// The send step shared by StandaloneClient and SentinelClient: refusals of a
// server in a passing state (LOADING, MASTERDOWN, TRYAGAIN) are sent again
// within a budget, and with DurabilityOptions on, a WAIT rides behind the
// scripts that may write. Private to the transport layer.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "transport/retry_budget.hpp"
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

// Writes one pipeline and reads its replies (error replies returned in place).
using RawPipelineSender =
    std::function<std::vector<Reply>(const std::vector<const std::vector<std::string>*>& commands)>;

// The WAIT replies of one call and what they add up to. Not thread-safe.
class WaitTally {
 public:
  explicit WaitTally(DurabilityOptions durability);

  // The WAIT command to append, or nullptr when durability is off.
  const std::vector<std::string>* wait_command() const { return wait_.empty() ? nullptr : &wait_; }
  // Counts the reply of a WAIT that followed at least one successful write.
  void record(const Reply& wait_reply);
  // Every recorded WAIT was confirmed by the replicas asked for.
  bool confirmed() const noexcept { return !short_; }
  // Throws DurabilityError carrying `replies` when a recorded WAIT was
  // confirmed by fewer replicas than asked; else returns them.
  std::vector<Reply> checked(std::vector<Reply> replies) const;

 private:
  DurabilityOptions durability_;
  std::vector<std::string> wait_;
  bool short_ = false;
  int fewest_acknowledged_ = 0;
  std::string wait_problem_;
};

// One client call: not thread-safe, used by the calling thread only.
class DurableSender {
 public:
  // `refused` may add refusals to retry (the Sentinel client adds READONLY,
  // re-resolving the master as a side effect); empty adds none. `metrics`
  // (null: off) counts the entries sent again.
  DurableSender(std::chrono::milliseconds budget, DurabilityOptions durability,
                std::function<bool(const Reply&)> refused = {}, CallMetrics* metrics = nullptr);

  // Replies to `commands` in order; may_write[i] says whether commands[i]
  // may write. Entries refused in a passing state are sent again after the
  // others until the budget (counted from this object's construction) runs
  // out; then the last refusal stays in place.
  std::vector<Reply> send(const std::vector<const std::vector<std::string>*>& commands,
                          const std::vector<bool>& may_write, const RawPipelineSender& raw);

  // Throws DurabilityError carrying `replies` when a WAIT after a successful
  // write was confirmed by fewer replicas than asked; else returns them.
  std::vector<Reply> checked(std::vector<Reply> replies) const {
    return tally_.checked(std::move(replies));
  }

 private:
  // The rounds after the first: `first_answers` empty means none was sent.
  std::vector<Reply> resend_refused(const std::vector<const std::vector<std::string>*>& commands,
                                    const std::vector<bool>& may_write,
                                    const RawPipelineSender& raw, std::vector<Reply> first_answers);

  RetryBudget budget_;
  std::function<bool(const Reply&)> refused_;
  WaitTally tally_;
  CallMetrics* metrics_;
};

// run_script_pipeline through a DurableSender: EVALSHA with the EVAL fallback,
// WAIT behind the writes, transient refusals retried; DurabilityError when
// replicas did not confirm. `metrics` (null: off) counts NOSCRIPT fallbacks
// and retried entries.
std::vector<Reply> run_durable_scripts(const std::vector<ScriptCall>& calls,
                                       std::chrono::milliseconds budget,
                                       const DurabilityOptions& durability,
                                       const RawPipelineSender& raw, CallMetrics* metrics,
                                       std::function<bool(const Reply&)> refused = {});

// One script call from views through the same steps as run_durable_scripts,
// without copying them into a pipeline: EVALSHA, EVAL after NOSCRIPT, a WAIT
// behind it when durability is on and the script may write, transient
// refusals (and those `refused` adds) sent again within the budget (counted
// from this call); DurabilityError when the replicas did not confirm.
// `round(eval, wait, wait_reply)` writes the call (as EVAL when `eval`), then
// `wait` when not null, and returns the script's reply (the WAIT's into
// *wait_reply); each round may go to a different connection. `metrics`
// (may be null) counts NOSCRIPT fallbacks and transient retries.
template <typename Round, typename Refused>
Reply run_durable_script(const Script& script, std::chrono::milliseconds budget,
                         const DurabilityOptions& durability, const Round& round,
                         CallMetrics* metrics, const Refused& refused) {
  RetryBudget retries(RetryBudget::Clock::now(), budget);
  WaitTally tally(durability);
  const std::vector<std::string>* wait = script_may_write(&script) ? tally.wait_command() : nullptr;
  bool eval = false;
  for (;;) {
    Reply wait_reply;
    Reply reply = round(eval, wait, &wait_reply);
    if (wait != nullptr && !reply.is_error()) {
      tally.record(wait_reply);
    }
    if (!eval && is_noscript(reply)) {
      eval = true;  // EVAL caches the script where it runs
      if (metrics != nullptr) {
        metrics->noscript_fallbacks.inc();
      }
      continue;
    }
    if (is_transient_refusal(reply) || refused(reply)) {
      const auto now = RetryBudget::Clock::now();
      if (!retries.exhausted(now)) {
        if (metrics != nullptr) {
          metrics->transient_retries.inc();
        }
        std::this_thread::sleep_for(retries.next_pause(now));
        continue;
      }
    }
    if (tally.confirmed()) {
      return reply;
    }
    std::vector<Reply> replies;
    replies.push_back(std::move(reply));
    return std::move(tally.checked(std::move(replies)).front());  // throws DurabilityError
  }
}

// execute_pipeline through a DurableSender (no WAIT: plain commands).
std::vector<Reply> run_retried_commands(
    const std::vector<const std::vector<std::string>*>& commands, std::chrono::milliseconds budget,
    const RawPipelineSender& raw, CallMetrics* metrics,
    std::function<bool(const Reply&)> refused = {});

}  // namespace flashsale::detail
