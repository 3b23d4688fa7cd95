#include "transport/durable_sender.hpp"

#include <algorithm>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/option_checks.hpp"
#include "flashsale/durability.hpp"
#include "flashsale/error.hpp"
#include "lua/scripts.hpp"
#include "transport/script_fallback.hpp"

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
  // coupon_stats is read-only by construction; any other script is treated as
  // a writer (the safe side: a WAIT too many costs a little latency, never a
  // lost write).
  return script != &scripts::coupon_stats;
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

DurableSender::DurableSender(milliseconds budget, DurabilityOptions durability,
                             std::function<bool(const Reply&)> refused, CallMetrics* metrics)
    : budget_(Clock::now(), budget),
      refused_(std::move(refused)),
      tally_(durability),
      metrics_(metrics) {}

std::vector<Reply> DurableSender::send(const std::vector<const std::vector<std::string>*>& commands,
                                       const std::vector<bool>& may_write,
                                       const RawPipelineSender& raw) {
  const bool may_wait = tally_.wait_command() != nullptr &&
                        std::find(may_write.begin(), may_write.end(), true) != may_write.end();
  if (!may_wait) {
    // The common case, without copies: one pipeline, nothing refused.
    std::vector<Reply> replies = raw(commands);
    const bool any_refused = std::any_of(replies.begin(), replies.end(), [&](const Reply& reply) {
      return is_transient_refusal(reply) || (refused_ && refused_(reply));
    });
    if (!any_refused || budget_.exhausted(Clock::now())) {
      return replies;
    }
    // Rare: re-send everything refused below (the answered stay answered).
    return resend_refused(commands, may_write, raw, std::move(replies));
  }
  return resend_refused(commands, may_write, raw, {});
}

std::vector<Reply> DurableSender::resend_refused(
    const std::vector<const std::vector<std::string>*>& commands,
    const std::vector<bool>& may_write, const RawPipelineSender& raw,
    std::vector<Reply> first_answers) {
  std::vector<Reply> replies(commands.size());
  std::vector<std::size_t> pending;
  if (first_answers.empty()) {
    pending.resize(commands.size());
    for (std::size_t index = 0; index < pending.size(); ++index) {
      pending[index] = index;
    }
  } else {
    for (std::size_t index = 0; index < commands.size(); ++index) {
      const bool refused = is_transient_refusal(first_answers[index]) ||
                           (refused_ && refused_(first_answers[index]));
      if (refused) {
        pending.push_back(index);
      }
      replies[index] = std::move(first_answers[index]);
    }
  }
  if (!first_answers.empty()) {
    if (metrics_ != nullptr) {
      metrics_->transient_retries.inc(pending.size());
    }
    std::this_thread::sleep_for(budget_.next_pause(Clock::now()));
  }
  while (!pending.empty()) {
    std::vector<const std::vector<std::string>*> pipeline;
    pipeline.reserve(pending.size() + 1);
    bool writes = false;
    for (const auto index : pending) {
      pipeline.push_back(commands[index]);
      writes = writes || may_write[index];
    }
    const bool wait = writes && tally_.wait_command() != nullptr;
    if (wait) {
      pipeline.push_back(tally_.wait_command());
    }
    std::vector<Reply> answered = raw(pipeline);
    std::optional<Reply> wait_reply;
    if (wait) {
      wait_reply = std::move(answered.back());
      answered.pop_back();
    }

    std::vector<std::size_t> again;
    bool wrote = false;
    const bool time_left = !budget_.exhausted(Clock::now());
    for (std::size_t position = 0; position < pending.size(); ++position) {
      const std::size_t index = pending[position];
      Reply& reply = answered[position];
      const bool refused = is_transient_refusal(reply) || (refused_ && refused_(reply));
      if (refused && time_left) {
        again.push_back(index);
      }
      wrote = wrote || (may_write[index] && !reply.is_error());
      replies[index] = std::move(reply);
    }
    if (wait && wrote) {
      tally_.record(*wait_reply);
    }
    pending = std::move(again);
    if (!pending.empty()) {
      if (metrics_ != nullptr) {
        metrics_->transient_retries.inc(pending.size());
      }
      std::this_thread::sleep_for(budget_.next_pause(Clock::now()));
    }
  }
  return replies;
}

std::vector<Reply> run_durable_scripts(const std::vector<ScriptCall>& calls, milliseconds budget,
                                       const DurabilityOptions& durability,
                                       const RawPipelineSender& raw, CallMetrics* metrics,
                                       std::function<bool(const Reply&)> refused) {
  DurableSender sender(budget, durability, std::move(refused), metrics);
  std::vector<Reply> replies = run_scripts_with_eval_fallback(
      calls,
      [&](const std::vector<const std::vector<std::string>*>& arguments,
          const std::vector<std::size_t>& call_indices) {
        std::vector<bool> may_write;
        may_write.reserve(call_indices.size());
        for (const auto index : call_indices) {
          may_write.push_back(script_may_write(calls[index].script));
        }
        return sender.send(arguments, may_write, raw);
      },
      metrics != nullptr ? &metrics->noscript_fallbacks : nullptr);
  return sender.checked(std::move(replies));
}

std::vector<Reply> run_retried_commands(
    const std::vector<const std::vector<std::string>*>& commands, milliseconds budget,
    const RawPipelineSender& raw, CallMetrics* metrics, std::function<bool(const Reply&)> refused) {
  DurableSender sender(budget, DurabilityOptions{}, std::move(refused), metrics);
  return sender.send(commands, std::vector<bool>(commands.size(), false), raw);
}

}  // namespace flashsale::detail
