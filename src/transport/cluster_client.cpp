#include "flashsale/cluster_client.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "common/option_checks.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "transport/cluster_rounds.hpp"
#include "transport/durable_sender.hpp"
#include "transport/resp_command.hpp"
#include "transport/script_call.hpp"
#include "transport/script_fallback.hpp"
#include "transport/server_info.hpp"
#include "transport/slot_map.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const std::vector<std::string> kAsking{"ASKING"};

// Appends command `index` of a call to `out` in RESP (resp_command.hpp),
// formatted straight from the caller's strings or views: a call's commands
// are not copied, however many rounds its redirects and retries take.
using CommandAppender = detail::FunctionRef<void(std::string& out, std::size_t index)>;

// Throws an exception of the same type as `failure` with `context` appended.
[[noreturn]] void rethrow_with_context(const std::exception_ptr& failure,
                                       const std::string& context) {
  try {
    std::rethrow_exception(failure);
  } catch (const TimeoutError& error) {
    throw TimeoutError(std::string(error.what()) + context);
  } catch (const ConnectionError& error) {
    throw ConnectionError(std::string(error.what()) + context);
  } catch (const ReplyError& error) {
    throw ReplyError(std::string(error.what()) + context);
  } catch (const ProtocolError& error) {
    throw ProtocolError(std::string(error.what()) + context);
  }
}

std::optional<std::uint16_t> slot_of(std::string_view key) {
  if (key.empty()) {
    return std::nullopt;
  }
  return hash_slot(key);
}

ClusterClientOptions validated(ClusterClientOptions options) {
  if (options.seeds.empty()) {
    throw InvalidArgument("a cluster client needs at least one seed node");
  }
  for (const auto& seed : options.seeds) {
    detail::parse_node_address(seed);
  }
  if (!options.connection.unix_socket.empty()) {
    throw InvalidArgument("a cluster client connects over TCP; unix_socket must be empty");
  }
  if (options.connection.db != 0) {
    throw InvalidArgument("a Redis Cluster has only database 0");
  }
  if (options.pool.shared_connections != 0) {
    throw InvalidArgument(
        "pool.shared_connections (auto-pipelining) is a StandaloneClient option; a cluster client "
        "borrows a pooled connection per node");
  }
  detail::OptionChecks("ClusterClientOptions")
      .at_least("pool.size", options.pool.size, std::size_t{1})
      .at_least("retry_budget", options.retry_budget, std::chrono::milliseconds{0})
      .at_least("max_redirects", options.max_redirects, 0);
  detail::validate_call_options(options.connection);
  return options;
}

// One command of a call on its way through the rounds.
struct Entry {
  std::size_t index = 0;
  std::optional<std::uint16_t> slot;
  std::shared_ptr<detail::ClusterNode> ask_target;
  int redirects = 0;
  bool answered = false;  // replies[index] holds the latest (error) reply
};

// What one call carries from round to round.
struct CallState {
  std::vector<Reply> replies;
  std::exception_ptr last_failure;  // the latest failure that left an entry without a reply
  bool reload = false;              // reload the slot map before the next round
  // Durability (durability.hpp): may_write[i] says commands[i] may write
  // (empty: none does). With a tally that has a WAIT, a node's pipeline that
  // holds a command that may write ends with that WAIT, whose reply the tally
  // counts when one of them succeeded.
  std::vector<bool> may_write;
  detail::WaitTally* tally = nullptr;
  // This round:
  std::vector<Entry> again;   // entries to send in the next round
  bool wait = false;          // pause before the next round (no progress)
  std::size_t transient = 0;  // entries refused in a passing state (TRYAGAIN, CLUSTERDOWN)

  bool may_write_at(std::size_t index) const { return !may_write.empty() && may_write[index]; }
};

// A node that could not be used: the current exception is kept, the map
// reloaded and the entries sent again after a pause.
void retry_unanswered(std::vector<Entry>& entries, CallState& call) {
  call.last_failure = std::current_exception();
  call.reload = true;
  call.wait = true;
  for (auto& entry : entries) {
    entry.ask_target = nullptr;
    entry.answered = false;
    call.again.push_back(std::move(entry));
  }
}

}  // namespace

class ClusterClient::Impl {
 public:
  explicit Impl(ClusterClientOptions options)
      : options_(validated(std::move(options))),
        slot_map_(options_.connection, options_.pool),
        metrics_(detail::make_call_metrics(options_.connection)) {
    for (const auto& seed : options_.seeds) {
      seeds_.push_back(detail::parse_node_address(seed));
    }
  }

  // Runs commands 0..slots.size() (each appended by `append`; slots[i]
  // routes command i, nullopt means any master) through as many rounds as
  // redirects and retries need, within the budget. may_write and tally: as
  // CallState's.
  std::vector<Reply> run(CommandAppender append,
                         const std::vector<std::optional<std::uint16_t>>& slots,
                         milliseconds timeout, std::vector<bool> may_write = {},
                         detail::WaitTally* tally = nullptr);
  // Script calls 0..count through run(), as EVALSHA, then EVAL for those a
  // node answered NOSCRIPT; WAIT per node when durability is on.
  std::vector<Reply> run_scripts(const ScriptCallView* calls, std::size_t count);

  const ClusterClientOptions options_;
  std::vector<detail::NodeAddress> seeds_;
  detail::SlotMap slot_map_;
  std::mutex refresh_mutex_;
  detail::ServerInfoCache server_info_;
  const std::unique_ptr<detail::CallMetrics> metrics_;  // null: metrics off

 private:
  // Reloads the slot map unless another thread did since `seen_generation`.
  void refresh(std::uint64_t seen_generation);
  // The node an entry goes to this round; nullptr when none is known.
  std::shared_ptr<detail::ClusterNode> route(const Entry& entry);
  // Sends one node's entries as one pipeline and settles each reply.
  void send_to_node(const std::shared_ptr<detail::ClusterNode>& node, std::vector<Entry>& entries,
                    CommandAppender append, milliseconds timeout, CallState& call);
  // Applies what `reply` means to its entry: final (returns true), or sent
  // again (returns false).
  bool settle_entry(Entry& entry, Reply& reply, const detail::ClusterNode& node, CallState& call);
};

void ClusterClient::Impl::refresh(std::uint64_t seen_generation) {
  const std::lock_guard<std::mutex> lock(refresh_mutex_);
  if (slot_map_.generation() != seen_generation) {
    return;
  }
  std::vector<detail::NodeAddress> candidates;
  for (const auto& node : slot_map_.masters()) {
    candidates.push_back(node->address);
  }
  for (const auto& seed : seeds_) {
    if (std::find(candidates.begin(), candidates.end(), seed) == candidates.end()) {
      candidates.push_back(seed);
    }
  }
  std::string failures;
  for (const auto& address : candidates) {
    try {
      auto node = slot_map_.node(address);
      auto connection = node->pool.acquire();
      const Reply reply = connection->execute({"CLUSTER", "SLOTS"});
      if (detail::is_transient_cluster_error(reply)) {
        failures += fmt::format("; {}: {}", address.text(), reply.error_message());
        continue;
      }
      auto ranges = detail::parse_cluster_slots(reply, address.host);
      if (ranges.empty()) {
        throw ProtocolError("no slot is assigned");
      }
      slot_map_.replace(ranges);
      return;
    } catch (const ReplyError& error) {
      // Refused authentication, or not a cluster node: retrying cannot help.
      throw ReplyError(
          fmt::format("{} (loading the cluster slot map from {})", error.what(), address.text()));
    } catch (const Error& error) {
      failures += fmt::format("; {}: {}", address.text(), error.what());
    }
  }
  throw ConnectionError("cannot load the cluster slot map from any node" + failures);
}

std::shared_ptr<detail::ClusterNode> ClusterClient::Impl::route(const Entry& entry) {
  if (entry.ask_target) {
    return entry.ask_target;
  }
  return entry.slot ? slot_map_.node_for_slot(*entry.slot) : slot_map_.any_node();
}

void ClusterClient::Impl::send_to_node(const std::shared_ptr<detail::ClusterNode>& node,
                                       std::vector<Entry>& entries, CommandAppender append,
                                       milliseconds timeout, CallState& call) {
  std::size_t reply_count = entries.size();
  bool writes = false;
  for (const auto& entry : entries) {
    reply_count += entry.ask_target ? 1 : 0;
    writes = writes || call.may_write_at(entry.index);
  }
  const std::vector<std::string>* wait_command =
      writes && call.tally != nullptr ? call.tally->wait_command() : nullptr;
  reply_count += wait_command != nullptr ? 1 : 0;
  const auto format = [&](std::string& out) {
    for (const auto& entry : entries) {
      if (entry.ask_target) {
        detail::append_command(out, kAsking);
      }
      append(out, entry.index);
    }
    if (wait_command != nullptr) {
      detail::append_command(out, *wait_command);
    }
  };

  std::optional<detail::ConnectionPool::Lease> connection;
  try {
    connection.emplace(node->pool.acquire());
  } catch (const ConnectionError&) {
    retry_unanswered(entries, call);  // nothing was sent: safe to retry anywhere
    return;
  }

  std::vector<Reply> raw;
  try {
    raw = (*connection)->execute_formatted(format, reply_count, timeout);
  } catch (const TimeoutError&) {
    rethrow_with_context(
        std::current_exception(),
        fmt::format(" (cluster node {}; the command may have run, so it is not retried)",
                    node->address.text()));
  } catch (const ConnectionError&) {
    if (!options_.retry_after_connection_loss) {
      rethrow_with_context(
          std::current_exception(),
          fmt::format(" (cluster node {}; the connection broke after the command was sent, "
                      "so it may have run and is not retried)",
                      node->address.text()));
    }
    retry_unanswered(entries, call);
    return;
  }
  connection.reset();

  bool wrote = false;
  std::size_t at = 0;
  for (auto& entry : entries) {
    if (entry.ask_target) {
      ++at;  // the reply to ASKING
    }
    Reply& reply = raw[at++];
    const bool written = call.may_write_at(entry.index) && !reply.is_error();
    if (settle_entry(entry, reply, *node, call) && written) {
      wrote = true;
    }
  }
  if (wait_command != nullptr && wrote) {
    call.tally->record(raw.back());
  }
}

bool ClusterClient::Impl::settle_entry(Entry& entry, Reply& reply, const detail::ClusterNode& node,
                                       CallState& call) {
  const detail::Settlement settlement =
      detail::settle(reply, node.address.host, entry.redirects, options_.max_redirects);
  call.replies[entry.index] = std::move(reply);
  switch (settlement.kind) {
    case detail::Settlement::Kind::Final:
      return true;
    case detail::Settlement::Kind::Redirect: {
      const detail::Redirect& redirect = *settlement.redirect;
      ++entry.redirects;
      if (metrics_) {
        metrics_->count_redirect(redirect.kind == detail::Redirect::Kind::Moved);
      }
      if (redirect.kind == detail::Redirect::Kind::Moved) {
        call.reload = call.reload || !slot_map_.knows(redirect.target);
        slot_map_.assign(redirect.slot, slot_map_.node(redirect.target));
        entry.ask_target = nullptr;
      } else {
        entry.ask_target = slot_map_.node(redirect.target);
      }
      break;
    }
    case detail::Settlement::Kind::Transient:
      call.wait = true;
      ++call.transient;
      entry.ask_target = nullptr;
      break;
  }
  entry.answered = true;
  call.again.push_back(std::move(entry));
  return false;
}

std::vector<Reply> ClusterClient::Impl::run(CommandAppender append,
                                            const std::vector<std::optional<std::uint16_t>>& slots,
                                            milliseconds timeout, std::vector<bool> may_write,
                                            detail::WaitTally* tally) {
  CallState call;
  call.replies.resize(slots.size());
  call.may_write = std::move(may_write);
  call.tally = tally;
  std::vector<Entry> pending(slots.size());
  for (std::size_t index = 0; index < slots.size(); ++index) {
    pending[index].index = index;
    pending[index].slot = slots[index];
  }
  detail::RetryBudget budget(Clock::now(), options_.retry_budget);
  std::uint64_t generation = slot_map_.generation();
  call.reload = generation == 0;

  for (;;) {
    call.wait = false;
    call.transient = 0;
    call.again.clear();
    if (call.reload) {
      call.reload = false;
      try {
        refresh(generation);
      } catch (const ConnectionError&) {
        call.last_failure = std::current_exception();
        call.wait = true;
      }
    }
    generation = slot_map_.generation();

    std::vector<Entry> unrouted;
    auto groups = detail::group_by_node<detail::ClusterNode>(
        std::move(pending), [&](const Entry& entry) { return route(entry); }, unrouted);
    for (auto& entry : unrouted) {
      if (generation != 0) {
        call.last_failure = std::make_exception_ptr(ConnectionError(
            entry.slot ? fmt::format("slot {} is served by no known master", *entry.slot)
                       : std::string("no master is known")));
      }
      entry.answered = false;
      call.reload = true;
      call.wait = true;
      call.again.push_back(std::move(entry));
    }
    for (auto& [node, entries] : groups) {
      send_to_node(node, entries, append, timeout, call);
    }

    if (call.again.empty()) {
      return std::move(call.replies);
    }
    std::sort(call.again.begin(), call.again.end(),
              [](const Entry& left, const Entry& right) { return left.index < right.index; });
    pending = std::move(call.again);

    const auto now = Clock::now();
    if (budget.exhausted(now) && (call.wait || call.reload)) {
      const bool unanswered = std::any_of(pending.begin(), pending.end(),
                                          [](const Entry& entry) { return !entry.answered; });
      if (unanswered) {
        rethrow_with_context(call.last_failure,
                             fmt::format(" (Redis Cluster: gave up after retrying for {} ms)",
                                         budget.elapsed(now).count()));
      }
      return std::move(call.replies);  // the last error replies, in place
    }
    if (metrics_ && call.transient != 0) {
      metrics_->transient_retries.inc(call.transient);
    }
    if (call.wait) {
      std::this_thread::sleep_for(budget.next_pause(now));
    }
  }
}

ClusterClient::ClusterClient(ClusterClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ClusterClient::~ClusterClient() = default;

const ClusterClientOptions& ClusterClient::options() const noexcept {
  return impl_->options_;
}

Reply ClusterClient::execute(const Command& command) {
  return detail::CallMetrics::observe(
      impl_->metrics_.get(), detail::CallKind::Command, command, [&] {
        Reply reply = std::move(
            impl_
                ->run([&command](std::string& out,
                                 std::size_t) { detail::append_command(out, command.arguments); },
                      {slot_of(command.routing_key)}, command.timeout)
                .front());
        reply.throw_if_error();
        return reply;
      });
}

std::vector<Reply> ClusterClient::execute_pipeline(const std::vector<Command>& commands) {
  if (commands.empty()) {
    return {};
  }
  std::vector<std::optional<std::uint16_t>> slots;
  slots.reserve(commands.size());
  milliseconds timeout{0};
  for (const auto& command : commands) {
    slots.push_back(slot_of(command.routing_key));
    timeout = std::max(timeout, command.timeout);
  }
  return detail::CallMetrics::observe(
      impl_->metrics_.get(), detail::CallKind::CommandPipeline, commands.front(), [&] {
        return impl_->run(
            [&commands](std::string& out, std::size_t index) {
              detail::append_command(out, commands[index].arguments);
            },
            slots, timeout);
      });
}

std::vector<Reply> ClusterClient::run_script_pipeline(const std::vector<ScriptCall>& calls) {
  if (calls.empty()) {
    return {};
  }
  return run_script_pipeline_views(detail::ScriptCallViews(calls).calls());
}

std::vector<Reply> ClusterClient::run_script_pipeline_views(
    const std::vector<ScriptCallView>& calls) {
  return detail::CallMetrics::observe(
      impl_->metrics_.get(),
      calls.size() == 1 ? detail::CallKind::Script : detail::CallKind::ScriptPipeline,
      calls.front().script, [&] { return impl_->run_scripts(calls.data(), calls.size()); });
}

Reply ClusterClient::run_script_views(const Script& script, ArgumentViews keys,
                                      ArgumentViews arguments) {
  const ScriptCallView call{&script, keys, arguments};
  return detail::CallMetrics::observe(impl_->metrics_.get(), script, [&] {
    Reply reply = std::move(impl_->run_scripts(&call, 1).front());
    reply.throw_if_error();
    return reply;
  });
}

std::vector<Reply> ClusterClient::Impl::run_scripts(const ScriptCallView* calls,
                                                    std::size_t count) {
  detail::WaitTally tally(options_.connection.durability);
  std::vector<Reply> replies = detail::run_scripts_with_eval_fallback(
      count,
      [&](const std::vector<detail::RoundEntry>& entries) {
        std::vector<std::optional<std::uint16_t>> slots;
        std::vector<bool> may_write;
        slots.reserve(entries.size());
        may_write.reserve(entries.size());
        for (const auto& entry : entries) {
          const ScriptCallView& call = calls[entry.index];
          slots.push_back(call.keys.empty() ? std::nullopt : slot_of(call.keys[0]));
          may_write.push_back(detail::script_may_write(call.script));
        }
        return run(
            [&](std::string& out, std::size_t index) {
              detail::append_script_command(out, calls[entries[index].index], entries[index].eval);
            },
            slots, milliseconds{0}, std::move(may_write), &tally);
      },
      metrics_ != nullptr ? &metrics_->noscript_fallbacks : nullptr);
  return tally.checked(std::move(replies));
}

ServerInfo ClusterClient::server_info() {
  return impl_->server_info_.get(*this, impl_->options_.connection.persistence_check);
}

}  // namespace flashsale
