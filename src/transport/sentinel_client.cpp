#include "flashsale/sentinel_client.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/option_checks.hpp"
#include "common/script_reply.hpp"
#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"
#include "transport/connection.hpp"
#include "transport/connection_pool.hpp"
#include "transport/durable_sender.hpp"
#include "transport/retry_budget.hpp"
#include "transport/server_info.hpp"
#include "transport/slot_map.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale {

namespace {

using Clock = detail::RetryBudget::Clock;
using std::chrono::milliseconds;

// A node that is not master: nothing was sent to it, so the call may go on
// with the master resolved again. Private: surfaces as ConnectionError.
class NotMaster : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

SentinelClientOptions validated(SentinelClientOptions options) {
  if (options.sentinels.empty()) {
    throw InvalidArgument("a sentinel client needs at least one sentinel address");
  }
  for (const auto& sentinel : options.sentinels) {
    detail::parse_node_address(sentinel);
  }
  validate_key_id(options.service, "sentinel service name");
  if (!options.connection.unix_socket.empty() || !options.sentinel_connection.unix_socket.empty()) {
    throw InvalidArgument("a sentinel client connects over TCP; unix_socket must be empty");
  }
  if (options.pool.shared_connections != 0) {
    throw InvalidArgument(
        "pool.shared_connections (auto-pipelining) is a StandaloneClient option; a sentinel client "
        "borrows a pooled connection of the current master");
  }
  detail::OptionChecks("SentinelClientOptions")
      .at_least("pool.size", options.pool.size, std::size_t{1})
      .at_least("retry_budget", options.retry_budget, milliseconds{0});
  detail::validate_call_options(options.connection);
  return options;
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Throws an exception of the same type as `failure` with `context` appended.
[[noreturn]] void rethrow_with_context(const std::exception_ptr& failure,
                                       const std::string& context) {
  try {
    std::rethrow_exception(failure);
  } catch (const TimeoutError& error) {
    throw TimeoutError(std::string(error.what()) + context);
  } catch (const ConnectionError& error) {
    throw ConnectionError(std::string(error.what()) + context);
  }
}

}  // namespace

class SentinelClient::Impl {
 public:
  // One resolved master with its pool; replaced, never changed.
  struct Master {
    Master(detail::NodeAddress node_address, const SentinelClientOptions& options)
        : address(std::move(node_address)),
          pool(
              [&] {
                ConnectionOptions connection = options.connection;
                connection.host = address.host;
                connection.port = address.port;
                return connection;
              }(),
              options.pool,
              [text = address.text()](detail::Connection& connection) {
                const Reply role = connection.execute({"ROLE"});
                const std::string kind = role.is_error() || role.as_array().empty()
                                             ? std::string("unknown")
                                             : role.as_array().front().as_string();
                if (kind != "master") {
                  throw NotMaster(
                      fmt::format("redis {}: ROLE says '{}', not master (nothing was sent to it)",
                                  text, role.is_error() ? role.error_message() : kind));
                }
              }) {}

    detail::NodeAddress address;
    detail::ConnectionPool pool;
    std::atomic<bool> stale{false};
  };

  explicit Impl(SentinelClientOptions options)
      : options_(validated(std::move(options))),
        metrics_(detail::make_call_metrics(options_.connection)) {
    for (const auto& sentinel : options_.sentinels) {
      sentinels_.push_back(detail::parse_node_address(sentinel));
    }
  }

  // The current master, resolved through the sentinels when there is none or
  // it went stale. Throws ConnectionError when no sentinel answers,
  // ConfigurationError when none that answered knows the service.
  std::shared_ptr<Master> master() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (master_ && !master_->stale) {
        return master_;
      }
    }
    const std::lock_guard<std::mutex> resolving(resolve_mutex_);
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (master_ && !master_->stale) {
        return master_;  // another thread resolved it meanwhile
      }
    }
    auto address = resolve();
    auto fresh = std::make_shared<Master>(std::move(address), options_);
    const std::lock_guard<std::mutex> lock(mutex_);
    if (metrics_ && master_ && master_->address.text() != fresh->address.text()) {
      metrics_->count_master_change();
    }
    master_ = fresh;
    return fresh;
  }

  void mark_stale(const std::shared_ptr<Master>& master) {
    if (master) {
      master->stale = true;
    }
  }

  // Runs a call on the master: `rounds(on_master, readonly, left)` where
  // on_master(action) runs action(detail::Connection&) on a pooled connection
  // of the master, reached within the budget, and the DurableSender steps
  // re-send refusals (including READONLY: `readonly` marks the master stale)
  // within what is `left` of it.
  template <typename Rounds>
  auto run(const Rounds& rounds);

  std::string current_master() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return master_ ? master_->address.text() : std::string();
  }

  // The commands of execute() and execute_pipeline() (not empty).
  std::vector<Reply> run_commands(const std::vector<Command>& commands);

  // Script calls (count > 0) on the master, written straight from the views.
  void run_scripts(const ScriptCallView* calls, std::size_t count, Reply* replies);

  const SentinelClientOptions options_;
  detail::ServerInfoCache server_info_;
  const std::unique_ptr<detail::CallMetrics> metrics_;  // null: metrics off

 private:
  detail::NodeAddress resolve();

  std::vector<detail::NodeAddress> sentinels_;  // guarded by resolve_mutex_
  mutable std::mutex mutex_;
  std::mutex resolve_mutex_;
  std::shared_ptr<Master> master_;
};

detail::NodeAddress SentinelClient::Impl::resolve() {
  std::string failures;
  bool answered_unknown = false;
  for (std::size_t index = 0; index < sentinels_.size(); ++index) {
    const detail::NodeAddress sentinel = sentinels_[index];
    ConnectionOptions connection = options_.sentinel_connection;
    connection.host = sentinel.host;
    connection.port = sentinel.port;
    connection.db = 0;
    try {
      detail::Connection link(connection);
      const Reply reply = link.execute({"SENTINEL", "get-master-addr-by-name", options_.service});
      if (reply.is_error()) {
        failures += fmt::format("; sentinel {}: {}", sentinel.text(), reply.error_message());
        continue;
      }
      if (reply.is_nil()) {
        answered_unknown = true;
        failures += fmt::format("; sentinel {}: unknown service", sentinel.text());
        continue;
      }
      detail::ReplyReader address(reply, "SENTINEL get-master-addr-by-name", 2);
      detail::NodeAddress master;
      master.host = address.text();
      master.port = static_cast<int>(address.count());
      // The sentinel that answered is asked first next time.
      std::rotate(sentinels_.begin(), sentinels_.begin() + static_cast<long>(index),
                  sentinels_.begin() + static_cast<long>(index) + 1);
      return master;
    } catch (const ReplyError& error) {
      throw ReplyError(fmt::format("{} (sentinel {})", error.what(), sentinel.text()));
    } catch (const Error& error) {
      failures += fmt::format("; sentinel {}: {}", sentinel.text(), error.what());
    }
  }
  if (answered_unknown) {
    throw ConfigurationError(
        fmt::format("no sentinel knows the service '{}'{}", options_.service, failures));
  }
  throw ConnectionError(
      fmt::format("no sentinel told the master of '{}'{}", options_.service, failures));
}

template <typename Rounds>
auto SentinelClient::Impl::run(const Rounds& rounds) {
  detail::RetryBudget budget(Clock::now(), options_.retry_budget);
  // One round on the master, reached within the budget.
  const auto on_master = [&](const auto& action) {
    for (;;) {
      std::shared_ptr<Master> current;
      std::optional<detail::ConnectionPool::Lease> lease;
      try {
        current = master();
        lease.emplace(current->pool.acquire());
      } catch (const ConnectionError&) {
        // Nothing was sent: resolve again and retry within the budget.
        mark_stale(current);
        const auto now = Clock::now();
        if (budget.exhausted(now)) {
          rethrow_with_context(
              std::current_exception(),
              fmt::format(" (Sentinel service '{}': gave up after retrying for {} ms)",
                          options_.service, budget.elapsed(now).count()));
        }
        std::this_thread::sleep_for(budget.next_pause(now));
        continue;
      }
      try {
        return action(**lease);
      } catch (const TimeoutError&) {
        rethrow_with_context(
            std::current_exception(),
            fmt::format(" (master {} of '{}'; the command may have run, so it is not retried)",
                        current->address.text(), options_.service));
      } catch (const ConnectionError&) {
        mark_stale(current);
        if (!options_.retry_after_connection_loss || budget.exhausted(Clock::now())) {
          rethrow_with_context(
              std::current_exception(),
              fmt::format(" (master {} of '{}'; the connection broke after the command was sent, "
                          "so it may have run and is not retried)",
                          current->address.text(), options_.service));
        }
      }
    }
  };
  const auto readonly = [this](const Reply& reply) {
    if (reply.is_error() && starts_with(reply.error_message(), "READONLY")) {
      const std::lock_guard<std::mutex> lock(mutex_);
      mark_stale(master_);
      return true;
    }
    return false;
  };
  return rounds(on_master, readonly, budget.left(Clock::now()));
}

void SentinelClient::Impl::run_scripts(const ScriptCallView* calls, std::size_t count,
                                       Reply* replies) {
  run([&](const auto& on_master, const auto& readonly, auto left) {
    detail::run_durable_scripts(
        calls, count,
        [&](const detail::RoundEntry* entries, std::size_t size,
            const std::vector<std::string>* wait, Reply* out, Reply* wait_reply) {
          on_master([&](detail::Connection& connection) {
            connection.script_round(calls, entries, size, wait, out, wait_reply);
            return 0;
          });
        },
        detail::CallSteps{left, options_.connection.durability, metrics_.get(), readonly}, replies);
    return 0;
  });
}

SentinelClient::SentinelClient(SentinelClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

SentinelClient::~SentinelClient() = default;

const SentinelClientOptions& SentinelClient::options() const noexcept {
  return impl_->options_;
}

std::string SentinelClient::current_master() const {
  return impl_->current_master();
}

std::vector<Reply> SentinelClient::Impl::run_commands(const std::vector<Command>& commands) {
  std::vector<const std::vector<std::string>*> arguments;
  arguments.reserve(commands.size());
  milliseconds timeout{0};
  for (const auto& command : commands) {
    arguments.push_back(&command.arguments);
    timeout = std::max(timeout, command.timeout);
  }
  return run([&](const auto& on_master, const auto& readonly, auto left) {
    return detail::run_retried_commands(
        arguments,
        [&](const std::vector<const std::vector<std::string>*>& pipeline) {
          return on_master([&](detail::Connection& connection) {
            return connection.execute_pipeline(pipeline, timeout);
          });
        },
        detail::CallSteps{left, {}, metrics_.get(), readonly});
  });
}

Reply SentinelClient::execute(const Command& command) {
  return detail::CallMetrics::observe(
      impl_->metrics_.get(), detail::CallKind::Command, command, [&] {
        Reply reply = std::move(impl_->run_commands({command}).front());
        reply.throw_if_error();
        return reply;
      });
}

std::vector<Reply> SentinelClient::execute_pipeline(const std::vector<Command>& commands) {
  if (commands.empty()) {
    return {};
  }
  return detail::CallMetrics::observe(impl_->metrics_.get(), detail::CallKind::CommandPipeline,
                                      commands.front(),
                                      [&] { return impl_->run_commands(commands); });
}

std::vector<Reply> SentinelClient::run_script_pipeline(const std::vector<ScriptCall>& calls) {
  if (calls.empty()) {
    return {};
  }
  return run_script_pipeline_views(detail::ScriptCallViews(calls).calls());
}

std::vector<Reply> SentinelClient::run_script_pipeline_views(
    const std::vector<ScriptCallView>& calls) {
  return detail::CallMetrics::observe(
      impl_->metrics_.get(),
      calls.size() == 1 ? detail::CallKind::Script : detail::CallKind::ScriptPipeline,
      calls.front().script, [&] {
        std::vector<Reply> replies(calls.size());
        impl_->run_scripts(calls.data(), calls.size(), replies.data());
        return replies;
      });
}

Reply SentinelClient::run_script_views(const Script& script, ArgumentViews keys,
                                       ArgumentViews arguments) {
  const ScriptCallView call{&script, keys, arguments};
  return detail::CallMetrics::observe(impl_->metrics_.get(), script, [&] {
    Reply reply;
    impl_->run_scripts(&call, 1, &reply);
    reply.throw_if_error();
    return reply;
  });
}

ServerInfo SentinelClient::server_info() {
  return impl_->server_info_.get(*this, impl_->options_.connection.persistence_check);
}

}  // namespace flashsale
