#include "transport/durable_sender.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/option_checks.hpp"
#include "flashsale/durability.hpp"
#include "flashsale/error.hpp"
#include "lua/scripts.hpp"
#include "transport/retry_budget.hpp"

namespace flashsale::detail {

namespace {

using Clock = RetryBudget::Clock;
using std::chrono::milliseconds;

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

bool is_transient_refusal(const Reply& reply) {
  if (!reply.is_error()) {
    return false;
  }
  const std::string& message = reply.error_message();
  return starts_with(message, "LOADING") || starts_with(message, "MASTERDOWN") ||
         starts_with(message, "TRYAGAIN");
}

bool script_may_write(const Script* script) {
  // coupon_stats and coupon_shard_stats are read-only by construction; any
  // other script is treated as a writer (the safe side: a WAIT too many
  // costs a little latency, never a lost write).
  return script != &scripts::coupon_stats && script != &scripts::coupon_shard_stats;
}

void validate_call_options(const ConnectionOptions& options) {
  const auto& durability = options.durability;
  OptionChecks("ConnectionOptions")
      .at_least("transient_retry_budget", options.transient_retry_budget, milliseconds{0})
      .at_least("durability.replicas", durability.replicas, 0)
      .at_least("durability.timeout", durability.timeout, milliseconds{0})
      .require(
          durability.replicas == 0 || options.command_timeout.count() == 0 ||
              (durability.timeout.count() != 0 && durability.timeout < options.command_timeout),
          "durability.timeout",
          fmt::format("must be shorter than command_timeout ({} ms) and not 0 (the WAIT "
                      "reply is read within the command timeout)",
                      options.command_timeout.count()),
          durability.timeout);
}

WaitTally::WaitTally(DurabilityOptions durability) : durability_(durability) {
  if (durability_.replicas > 0) {
    wait_ = {"WAIT", std::to_string(durability_.replicas),
             std::to_string(durability_.timeout.count())};
    fewest_acknowledged_ = durability_.replicas;
  }
}

void WaitTally::record(const Reply& wait_reply) {
  int acknowledged = 0;
  if (wait_reply.is_error()) {
    wait_problem_ = wait_reply.error_message();
  } else {
    acknowledged = static_cast<int>(wait_reply.as_integer());
  }
  if (acknowledged < durability_.replicas) {
    short_ = true;
    fewest_acknowledged_ = std::min(fewest_acknowledged_, acknowledged);
  }
}

std::vector<Reply> WaitTally::checked(std::vector<Reply> replies) const {
  if (!short_) {
    return replies;
  }
  std::string message = fmt::format(
      "durability: {} of {} replicas confirmed the write within {} ms; it happened on the "
      "master and may be lost on a failover (retry with the same ids)",
      fewest_acknowledged_, durability_.replicas, durability_.timeout.count());
  if (!wait_problem_.empty()) {
    message += " (WAIT: " + wait_problem_ + ")";
  }
  throw DurabilityError(message, std::move(replies), fewest_acknowledged_, durability_.replicas);
}

void WaitTally::check(Reply* replies, std::size_t count) const {
  if (short_) {
    checked(std::vector<Reply>(std::make_move_iterator(replies),
                               std::make_move_iterator(replies + count)));  // throws
  }
}

void run_durable_rounds(std::size_t count, bool scripts, FunctionRef<bool(std::size_t)> may_write,
                        RoundSender send, const CallSteps& steps, Reply* replies) {
  RetryBudget budget(Clock::now(), steps.budget);
  WaitTally tally(steps.durability);
  // The first round: every entry as EVALSHA (one call needs no heap).
  RoundEntry single;
  std::vector<RoundEntry> all;
  const RoundEntry* round = &single;
  std::size_t round_size = count;
  if (count > 1) {
    all.resize(count);
    for (std::size_t index = 0; index < count; ++index) {
      all[index].index = index;
    }
    round = all.data();
  }
  std::vector<RoundEntry> next;
  std::vector<RoundEntry> retried;  // the round being sent after the first
  // Bounded: an entry goes again once as EVAL, and after a refusal only
  // while the budget lasts.
  while (round_size != 0) {
    const std::vector<std::string>* wait = nullptr;
    if (tally.wait_command() != nullptr) {
      for (std::size_t position = 0; position < round_size; ++position) {
        if (may_write(round[position].index)) {
          wait = tally.wait_command();
          break;
        }
      }
    }
    Reply wait_reply;
    send(round, round_size, wait, replies, &wait_reply);
    next.clear();
    std::size_t refused = 0;
    std::size_t fallbacks = 0;
    std::optional<bool> time_left;  // read from the clock at the first refusal only
    bool wrote = false;
    for (std::size_t position = 0; position < round_size; ++position) {
      const RoundEntry entry = round[position];
      const Reply& reply = replies[entry.index];
      if (scripts && !entry.eval && is_noscript(reply)) {
        next.push_back({entry.index, true});  // EVAL caches the script where it runs
        ++fallbacks;
      } else if (is_transient_refusal(reply) || (steps.refused && steps.refused(reply))) {
        if (!time_left) {
          time_left = !budget.exhausted(Clock::now());
        }
        if (*time_left) {
          next.push_back(entry);
          ++refused;
        }
      } else {
        wrote = wrote || (may_write(entry.index) && !reply.is_error());
      }
    }
    if (wait != nullptr && wrote) {
      tally.record(wait_reply);
    }
    if (steps.metrics != nullptr && fallbacks != 0) {
      steps.metrics->noscript_fallbacks.inc(fallbacks);
    }
    if (steps.metrics != nullptr && refused != 0) {
      steps.metrics->transient_retries.inc(refused);
    }
    if (refused != 0) {
      std::this_thread::sleep_for(budget.next_pause(Clock::now()));
    }
    retried.swap(next);
    round = retried.data();
    round_size = retried.size();
  }
  tally.check(replies, count);
}

void run_durable_scripts(const ScriptCallView* calls, std::size_t count, RoundSender send,
                         const CallSteps& steps, Reply* replies) {
  run_durable_rounds(
      count, true, [calls](std::size_t index) { return script_may_write(calls[index].script); },
      send, steps, replies);
}

namespace {

// Moves the replies of one copied round into place: one per entry, then the
// WAIT's when `wait`.
void place(std::vector<Reply> answers, const RoundEntry* entries, std::size_t count, bool wait,
           Reply* replies, Reply* wait_reply) {
  if (answers.size() != count + (wait ? 1 : 0)) {
    throw ProtocolError(fmt::format("sent {} commands but read {} replies", count + (wait ? 1 : 0),
                                    answers.size()));
  }
  for (std::size_t position = 0; position < count; ++position) {
    replies[entries[position].index] = std::move(answers[position]);
  }
  if (wait) {
    *wait_reply = std::move(answers.back());
  }
}

}  // namespace

std::vector<Reply> run_retried_commands(
    const std::vector<const std::vector<std::string>*>& commands, RawPipelineSender raw,
    const CallSteps& steps) {
  CallSteps plain = steps;
  plain.durability = DurabilityOptions{};
  std::vector<const std::vector<std::string>*> pipeline;
  std::vector<Reply> replies(commands.size());
  run_durable_rounds(
      commands.size(), false, [](std::size_t) { return false; },
      [&](const RoundEntry* entries, std::size_t size, const std::vector<std::string>*, Reply* out,
          Reply* wait_reply) {
        if (size == commands.size()) {
          place(raw(commands), entries, size, false, out, wait_reply);  // no copy of the list
          return;
        }
        pipeline.clear();
        for (std::size_t position = 0; position < size; ++position) {
          pipeline.push_back(commands[entries[position].index]);
        }
        place(raw(pipeline), entries, size, false, out, wait_reply);
      },
      plain, replies.data());
  return replies;
}

}  // namespace flashsale::detail
