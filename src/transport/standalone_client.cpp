#include "flashsale/standalone_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include "transport/connection_pool.hpp"
#include "transport/durable_sender.hpp"
#include "transport/script_call.hpp"
#include "transport/server_info.hpp"
#include "transport/shared_connection.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale {

class StandaloneClient::Impl {
 public:
  explicit Impl(StandaloneClientOptions options)
      : options_(std::move(options)),
        pool_(options_.connection, options_.pool),
        metrics_(detail::make_call_metrics(options_.connection)) {
    detail::validate_call_options(options_.connection);
    for (std::size_t index = 0; index < options_.pool.shared_connections; ++index) {
      shared_.push_back(std::make_unique<detail::SharedConnection>(options_.connection));
    }
  }

  // The shared connection (round robin) for a call whose longest command
  // timeout is `timeout`; nullptr when the call must borrow from the pool:
  // no shared connections, or a command with its own timeout (a blocking read).
  detail::SharedConnection* shared_connection_for(std::chrono::milliseconds timeout) {
    if (shared_.empty() || timeout.count() != 0) {
      return nullptr;
    }
    return shared_[next_shared_.fetch_add(1, std::memory_order_relaxed) % shared_.size()].get();
  }

  // The script calls through the send loop (durable_sender.hpp): on a shared
  // connection, else on one borrowed connection for every round
  // (EVAL carries the source and caches it again, so a SCRIPT FLUSH racing
  // with the retry cannot make it fail twice, and a WAIT covers the writes
  // of its own connection); formatted straight from the views either way.
  void run_scripts(const ScriptCallView* calls, std::size_t count, Reply* replies) {
    const auto& connection_options = pool_.connection_options();
    const detail::CallSteps steps{connection_options.transient_retry_budget,
                                  connection_options.durability,
                                  metrics_.get(),
                                  {}};
    if (auto* shared = shared_connection_for(std::chrono::milliseconds{0})) {
      detail::run_durable_scripts(
          calls, count,
          [shared, calls](const detail::RoundEntry* entries, std::size_t size,
                          const std::vector<std::string>* wait, Reply* out, Reply* wait_reply) {
            shared->script_round(calls, entries, size, wait, out, wait_reply);
          },
          steps, replies);
      return;
    }
    auto connection = pool_.acquire();
    detail::run_durable_scripts(
        calls, count,
        [&connection, calls](const detail::RoundEntry* entries, std::size_t size,
                             const std::vector<std::string>* wait, Reply* out, Reply* wait_reply) {
          connection->script_round(calls, entries, size, wait, out, wait_reply);
        },
        steps, replies);
  }

  const StandaloneClientOptions options_;
  detail::ConnectionPool pool_;
  std::vector<std::unique_ptr<detail::SharedConnection>> shared_;
  std::atomic<std::size_t> next_shared_{0};
  detail::ServerInfoCache server_info_;
  const std::unique_ptr<detail::CallMetrics> metrics_;  // null: metrics off
};

StandaloneClient::StandaloneClient(StandaloneClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

StandaloneClient::StandaloneClient(ConnectionOptions connection, PoolOptions pool)
    : StandaloneClient(StandaloneClientOptions{std::move(connection), pool}) {}

StandaloneClient::~StandaloneClient() = default;

const StandaloneClientOptions& StandaloneClient::options() const noexcept {
  return impl_->options_;
}

namespace {

Reply execute_on(detail::Connection& connection, const Command& command) {
  Reply reply = connection.execute(command.arguments, command.timeout);
  reply.throw_if_error();
  return reply;
}

std::vector<const std::vector<std::string>*> arguments_of(const std::vector<Command>& commands) {
  std::vector<const std::vector<std::string>*> arguments;
  arguments.reserve(commands.size());
  for (const auto& command : commands) {
    arguments.push_back(&command.arguments);
  }
  return arguments;
}

std::chrono::milliseconds longest_timeout(const std::vector<Command>& commands) {
  std::chrono::milliseconds timeout{0};
  for (const auto& command : commands) {
    timeout = std::max(timeout, command.timeout);
  }
  return timeout;
}

std::vector<Reply> execute_pipeline_on(detail::Connection& connection,
                                       const std::vector<Command>& commands) {
  return connection.execute_pipeline(arguments_of(commands), longest_timeout(commands));
}

}  // namespace

namespace {

// Commands on a shared connection when the client has them and `timeout` is
// 0, else on a pooled one; refusals in a passing state retried.
std::vector<Reply> send_commands(detail::ConnectionPool& pool, detail::SharedConnection* shared,
                                 const std::vector<const std::vector<std::string>*>& arguments,
                                 std::chrono::milliseconds timeout, detail::CallMetrics* metrics) {
  const detail::CallSteps steps{pool.connection_options().transient_retry_budget, {}, metrics, {}};
  if (shared != nullptr) {
    return detail::run_retried_commands(
        arguments,
        [shared](const std::vector<const std::vector<std::string>*>& commands) {
          return shared->execute_pipeline(commands);
        },
        steps);
  }
  auto connection = pool.acquire();
  return detail::run_retried_commands(
      arguments,
      [&connection, timeout](const std::vector<const std::vector<std::string>*>& commands) {
        return connection->execute_pipeline(commands, timeout);
      },
      steps);
}

}  // namespace

Reply StandaloneClient::execute(const Command& command) {
  auto* metrics = impl_->metrics_.get();
  return detail::CallMetrics::observe(metrics, detail::CallKind::Command, command, [&] {
    Reply reply =
        std::move(send_commands(impl_->pool_, impl_->shared_connection_for(command.timeout),
                                {&command.arguments}, command.timeout, metrics)
                      .front());
    reply.throw_if_error();
    return reply;
  });
}

std::vector<Reply> StandaloneClient::execute_pipeline(const std::vector<Command>& commands) {
  if (commands.empty()) {
    return {};
  }
  auto* metrics = impl_->metrics_.get();
  return detail::CallMetrics::observe(
      metrics, detail::CallKind::CommandPipeline, commands.front(), [&] {
        const auto timeout = longest_timeout(commands);
        return send_commands(impl_->pool_, impl_->shared_connection_for(timeout),
                             arguments_of(commands), timeout, metrics);
      });
}

struct StandaloneClient::PinnedConnection::State {
  detail::ConnectionPool::Lease lease;
};

StandaloneClient::PinnedConnection::PinnedConnection(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
StandaloneClient::PinnedConnection::PinnedConnection(PinnedConnection&&) noexcept = default;
StandaloneClient::PinnedConnection::~PinnedConnection() = default;

Reply StandaloneClient::PinnedConnection::execute(const Command& command) {
  return execute_on(*state_->lease, command);
}

std::vector<Reply> StandaloneClient::PinnedConnection::execute_pipeline(
    const std::vector<Command>& commands) {
  if (commands.empty()) {
    return {};
  }
  return execute_pipeline_on(*state_->lease, commands);
}

StandaloneClient::PinnedConnection StandaloneClient::pin() {
  return PinnedConnection(
      std::make_unique<PinnedConnection::State>(PinnedConnection::State{impl_->pool_.acquire()}));
}

std::vector<Reply> StandaloneClient::run_script_pipeline(const std::vector<ScriptCall>& calls) {
  if (calls.empty()) {
    return {};
  }
  return run_script_pipeline_views(detail::ScriptCallViews(calls).calls());
}

std::vector<Reply> StandaloneClient::run_script_pipeline_views(
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

Reply StandaloneClient::run_script_views(const Script& script, ArgumentViews keys,
                                         ArgumentViews arguments) {
  const ScriptCallView call{&script, keys, arguments};
  return detail::CallMetrics::observe(impl_->metrics_.get(), script, [&] {
    Reply reply;
    impl_->run_scripts(&call, 1, &reply);
    reply.throw_if_error();
    return reply;
  });
}

ServerInfo StandaloneClient::server_info() {
  return impl_->server_info_.get(*this, impl_->pool_.connection_options().persistence_check);
}

}  // namespace flashsale
