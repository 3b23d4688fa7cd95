#include "flashsale/cluster_client.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "transport/script_call.hpp"
#include "transport/script_fallback.hpp"
#include "transport/slot_map.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kFirstBackoff{10};
constexpr milliseconds kLongestBackoff{250};

const std::vector<std::string> kAsking{"ASKING"};

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

std::optional<std::uint16_t> slot_of(const std::string& key) {
  if (key.empty()) {
    return std::nullopt;
  }
  return hash_slot(key);
}

ClusterOptions validated(ClusterOptions options) {
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
  if (options.pool.size == 0) {
    throw InvalidArgument("pool size must be at least 1");
  }
  if (options.retry_budget.count() < 0 || options.max_redirects < 0) {
    throw InvalidArgument("retry budget and redirect limit must not be negative");
  }
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

}  // namespace

class ClusterClient::Impl {
 public:
  explicit Impl(ClusterOptions options)
      : options_(validated(std::move(options))),
        slot_map_(options_.connection, options_.pool),
        metrics_(detail::make_call_metrics(options_.connection)) {
    for (const auto& seed : options_.seeds) {
      seeds_.push_back(detail::parse_node_address(seed));
    }
  }

  // Runs `commands` (slots[i] routes commands[i]; nullopt means any master)
  // through as many rounds as redirects and retries need.
  std::vector<Reply> run(const std::vector<const std::vector<std::string>*>& commands,
                         const std::vector<std::optional<std::uint16_t>>& slots,
                         milliseconds timeout);

  const ClusterOptions options_;
  std::vector<detail::NodeAddress> seeds_;
  detail::SlotMap slot_map_;
  std::mutex refresh_mutex_;
  detail::ServerInfoCache server_info_;
  const std::unique_ptr<detail::CallMetrics> metrics_;  // null: metrics off

 private:
  // Reloads the slot map unless another thread did since `seen_generation`.
  void refresh(std::uint64_t seen_generation);
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

std::vector<Reply> ClusterClient::Impl::run(
    const std::vector<const std::vector<std::string>*>& commands,
    const std::vector<std::optional<std::uint16_t>>& slots, milliseconds timeout) {
  std::vector<Reply> replies(commands.size());
  std::vector<Entry> pending;
  pending.reserve(commands.size());
  for (std::size_t index = 0; index < commands.size(); ++index) {
    Entry entry;
    entry.index = index;
    entry.slot = slots[index];
    pending.push_back(std::move(entry));
  }

  const auto started = Clock::now();
  const auto deadline = started + options_.retry_budget;
  milliseconds backoff = kFirstBackoff;
  std::exception_ptr last_failure;  // the latest failure that left an entry without a reply
  std::uint64_t generation = slot_map_.generation();
  bool reload = generation == 0;

  for (;;) {
    bool wait = false;
    if (reload) {
      try {
        refresh(generation);
      } catch (const ConnectionError&) {
        last_failure = std::current_exception();
        wait = true;
      }
      reload = false;
    }
    generation = slot_map_.generation();
    std::vector<Entry> again;
    // For a node that could not be used: the current exception is kept, the
    // map reloaded and its entries sent again after a backoff.
    const auto retry_unanswered = [&](std::vector<Entry>& entries) {
      last_failure = std::current_exception();
      reload = true;
      wait = true;
      for (auto& entry : entries) {
        entry.ask_target = nullptr;
        entry.answered = false;
        again.push_back(std::move(entry));
      }
    };

    // Group by node, keeping the callers' order within each group.
    std::vector<std::pair<std::shared_ptr<detail::ClusterNode>, std::vector<Entry>>> groups;
    for (auto& entry : pending) {
      std::shared_ptr<detail::ClusterNode> node = entry.ask_target ? entry.ask_target
                                                  : entry.slot
                                                      ? slot_map_.node_for_slot(*entry.slot)
                                                      : slot_map_.any_node();
      if (!node) {
        if (generation != 0) {
          last_failure = std::make_exception_ptr(ConnectionError(
              entry.slot ? fmt::format("slot {} is served by no known master", *entry.slot)
                         : std::string("no master is known")));
        }
        entry.answered = false;
        reload = true;
        wait = true;
        again.push_back(std::move(entry));
        continue;
      }
      auto group = std::find_if(groups.begin(), groups.end(),
                                [&](const auto& candidate) { return candidate.first == node; });
      if (group == groups.end()) {
        groups.emplace_back(node, std::vector<Entry>{});
        group = std::prev(groups.end());
      }
      group->second.push_back(std::move(entry));
    }

    for (auto& [node, entries] : groups) {
      std::vector<const std::vector<std::string>*> pipeline;
      pipeline.reserve(entries.size() * 2);
      for (const auto& entry : entries) {
        if (entry.ask_target) {
          pipeline.push_back(&kAsking);
        }
        pipeline.push_back(commands[entry.index]);
      }

      std::optional<detail::ConnectionPool::Lease> connection;
      try {
        connection.emplace(node->pool.acquire());
      } catch (const ConnectionError&) {
        // Nothing was sent: safe to retry anywhere.
        retry_unanswered(entries);
        continue;
      }

      std::vector<Reply> raw;
      try {
        raw = (*connection)->execute_pipeline(pipeline, timeout);
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
        retry_unanswered(entries);
        continue;
      }
      connection.reset();

      std::size_t at = 0;
      for (auto& entry : entries) {
        if (entry.ask_target) {
          ++at;  // the reply to ASKING
        }
        Reply& reply = raw[at++];
        const auto redirect = detail::parse_redirect(reply, node->address.host);
        if (redirect && entry.redirects < options_.max_redirects) {
          ++entry.redirects;
          if (metrics_) {
            metrics_->count_redirect(redirect->kind == detail::Redirect::Kind::Moved);
          }
          if (redirect->kind == detail::Redirect::Kind::Moved) {
            reload = reload || !slot_map_.knows(redirect->target);
            slot_map_.assign(redirect->slot, slot_map_.node(redirect->target));
            entry.ask_target = nullptr;
          } else {
            entry.ask_target = slot_map_.node(redirect->target);
          }
          replies[entry.index] = std::move(reply);
          entry.answered = true;
          again.push_back(std::move(entry));
        } else if (detail::is_transient_cluster_error(reply)) {
          wait = true;
          entry.ask_target = nullptr;
          replies[entry.index] = std::move(reply);
          entry.answered = true;
          again.push_back(std::move(entry));
        } else {
          replies[entry.index] = std::move(reply);
        }
      }
    }

    if (again.empty()) {
      return replies;
    }
    std::sort(again.begin(), again.end(),
              [](const Entry& left, const Entry& right) { return left.index < right.index; });
    pending = std::move(again);

    if (Clock::now() >= deadline && (wait || reload)) {
      const bool unanswered = std::any_of(pending.begin(), pending.end(),
                                          [](const Entry& entry) { return !entry.answered; });
      if (unanswered) {
        rethrow_with_context(
            last_failure,
            fmt::format(" (Redis Cluster: gave up after retrying for {} ms)",
                        std::chrono::duration_cast<milliseconds>(Clock::now() - started).count()));
      }
      return replies;  // the last error replies, in place
    }
    if (wait) {
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - Clock::now()));
      backoff = std::min(backoff * 2, kLongestBackoff);
    }
  }
}

ClusterClient::ClusterClient(ClusterOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ClusterClient::~ClusterClient() = default;

const ClusterOptions& ClusterClient::options() const noexcept {
  return impl_->options_;
}

Reply ClusterClient::execute(const Command& command) {
  return detail::CallMetrics::observe(
      impl_->metrics_.get(), detail::CallKind::Command, command, [&] {
        Reply reply = std::move(
            impl_->run({&command.arguments}, {slot_of(command.routing_key)}, command.timeout)
                .front());
        reply.throw_if_error();
        return reply;
      });
}

std::vector<Reply> ClusterClient::execute_pipeline(const std::vector<Command>& commands) {
  if (commands.empty()) {
    return {};
  }
  std::vector<const std::vector<std::string>*> arguments;
  std::vector<std::optional<std::uint16_t>> slots;
  arguments.reserve(commands.size());
  slots.reserve(commands.size());
  milliseconds timeout{0};
  for (const auto& command : commands) {
    arguments.push_back(&command.arguments);
    slots.push_back(slot_of(command.routing_key));
    timeout = std::max(timeout, command.timeout);
  }
  return detail::CallMetrics::observe(impl_->metrics_.get(), detail::CallKind::CommandPipeline,
                                      commands.front(),
                                      [&] { return impl_->run(arguments, slots, timeout); });
}

std::vector<Reply> ClusterClient::run_script_pipeline(const std::vector<ScriptCall>& calls) {
  if (calls.empty()) {
    return {};
  }
  const auto send = [&](const std::vector<const std::vector<std::string>*>& arguments,
                        const std::vector<std::size_t>& call_indices) {
    std::vector<std::optional<std::uint16_t>> slots;
    slots.reserve(call_indices.size());
    for (const auto index : call_indices) {
      const auto& keys = calls[index].keys;
      slots.push_back(keys.empty() ? std::nullopt : slot_of(keys.front()));
    }
    return impl_->run(arguments, slots, milliseconds{0});
  };
  auto* metrics = impl_->metrics_.get();
  return detail::CallMetrics::observe(
      metrics, calls.size() == 1 ? detail::CallKind::Script : detail::CallKind::ScriptPipeline,
      calls.front(), [&] {
        return detail::run_scripts_with_eval_fallback(
            calls, send, metrics != nullptr ? &metrics->noscript_fallbacks : nullptr);
      });
}

ServerInfo ClusterClient::server_info() {
  return impl_->server_info_.get([this] { return execute({{"INFO"}, {}, {}}).as_string(); });
}

}  // namespace flashsale
