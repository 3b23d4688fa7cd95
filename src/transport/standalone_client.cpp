#include "flashsale/standalone_client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "transport/connection_pool.hpp"
#include "transport/script_call.hpp"
#include "transport/script_fallback.hpp"
#include "transport/shared_connection.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale {

class StandaloneClient::Impl {
 public:
  Impl(ConnectionOptions connection, PoolOptions pool)
      : pool_(connection, pool), metrics_(detail::make_call_metrics(connection)) {
    for (std::size_t index = 0; index < pool.shared_connections; ++index) {
      shared_.push_back(std::make_unique<detail::SharedConnection>(connection));
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

  detail::ConnectionPool pool_;
  std::vector<std::unique_ptr<detail::SharedConnection>> shared_;
  std::atomic<std::size_t> next_shared_{0};
  detail::ServerInfoCache server_info_;
  const std::unique_ptr<detail::CallMetrics> metrics_;  // null: metrics off
};

StandaloneClient::StandaloneClient(ConnectionOptions connection, PoolOptions pool)
    : impl_(std::make_unique<Impl>(std::move(connection), pool)) {}

StandaloneClient::~StandaloneClient() = default;

const ConnectionOptions& StandaloneClient::connection_options() const noexcept {
  return impl_->pool_.connection_options();
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

Reply StandaloneClient::execute(const Command& command) {
  return detail::CallMetrics::observe(
      impl_->metrics_.get(), detail::CallKind::Command, command, [&] {
        if (auto* shared = impl_->shared_connection_for(command.timeout)) {
          Reply reply = std::move(shared->execute_pipeline({&command.arguments}).front());
          reply.throw_if_error();
          return reply;
        }
        auto connection = impl_->pool_.acquire();
        return execute_on(*connection, command);
      });
}

std::vector<Reply> StandaloneClient::execute_pipeline(const std::vector<Command>& commands) {
  if (commands.empty()) {
    return {};
  }
  return detail::CallMetrics::observe(
      impl_->metrics_.get(), detail::CallKind::CommandPipeline, commands.front(), [&] {
        if (auto* shared = impl_->shared_connection_for(longest_timeout(commands))) {
          return shared->execute_pipeline(arguments_of(commands));
        }
        auto connection = impl_->pool_.acquire();
        return execute_pipeline_on(*connection, commands);
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
  auto* metrics = impl_->metrics_.get();
  Counter* fallbacks = metrics != nullptr ? &metrics->noscript_fallbacks : nullptr;
  return detail::CallMetrics::observe(
      metrics, calls.size() == 1 ? detail::CallKind::Script : detail::CallKind::ScriptPipeline,
      calls.front(), [&] {
        if (auto* shared = impl_->shared_connection_for(std::chrono::milliseconds{0})) {
          return detail::run_scripts_with_eval_fallback(
              calls,
              [shared](const std::vector<const std::vector<std::string>*>& arguments,
                       const std::vector<std::size_t>&) {
                return shared->execute_pipeline(arguments);
              },
              fallbacks);
        }
        // One connection for both rounds: EVAL carries the source and caches
        // it again, so a SCRIPT FLUSH racing with the retry cannot make it
        // fail twice.
        auto connection = impl_->pool_.acquire();
        return detail::run_scripts_with_eval_fallback(
            calls,
            [&](const std::vector<const std::vector<std::string>*>& arguments,
                const std::vector<std::size_t>&) {
              return connection->execute_pipeline(arguments, std::chrono::milliseconds{0});
            },
            fallbacks);
      });
}

ServerInfo StandaloneClient::server_info() {
  return impl_->server_info_.get([this] { return execute({{"INFO"}, {}, {}}).as_string(); });
}

}  // namespace flashsale
