#include "flashsale/standalone_client.hpp"

#include <mutex>
#include <optional>

#include "connection_pool.hpp"
#include "script_call.hpp"

namespace flashsale {

class StandaloneClient::Impl {
 public:
  Impl(ConnectionOptions connection, PoolOptions pool) : pool_(std::move(connection), pool) {}

  detail::ConnectionPool pool_;
  std::mutex server_info_mutex_;
  std::optional<ServerInfo> server_info_;
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

std::vector<Reply> execute_pipeline_on(detail::Connection& connection,
                                       const std::vector<Command>& commands) {
  std::vector<const std::vector<std::string>*> arguments;
  arguments.reserve(commands.size());
  std::chrono::milliseconds timeout{0};
  for (const auto& command : commands) {
    arguments.push_back(&command.arguments);
    timeout = std::max(timeout, command.timeout);
  }
  return connection.execute_pipeline(arguments, timeout);
}

}  // namespace

Reply StandaloneClient::execute(const Command& command) {
  auto connection = impl_->pool_.acquire();
  return execute_on(*connection, command);
}

std::vector<Reply> StandaloneClient::execute_pipeline(const std::vector<Command>& commands) {
  if (commands.empty()) {
    return {};
  }
  auto connection = impl_->pool_.acquire();
  return execute_pipeline_on(*connection, commands);
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

Reply StandaloneClient::run_script(const ScriptCall& call) {
  const auto evalsha = detail::evalsha_arguments(call);
  auto connection = impl_->pool_.acquire();
  Reply reply = connection->execute(evalsha);
  if (detail::is_noscript(reply)) {
    // EVAL carries the source and caches it again, so a SCRIPT FLUSH racing
    // with this retry cannot make it fail a second time.
    reply = connection->execute(detail::eval_arguments(call));
  }
  reply.throw_if_error();
  return reply;
}

std::vector<Reply> StandaloneClient::run_script_pipeline(const std::vector<ScriptCall>& calls) {
  if (calls.empty()) {
    return {};
  }
  std::vector<std::vector<std::string>> evalsha;
  evalsha.reserve(calls.size());
  for (const auto& call : calls) {
    evalsha.push_back(detail::evalsha_arguments(call));
  }
  std::vector<const std::vector<std::string>*> pointers;
  pointers.reserve(calls.size());
  for (const auto& arguments : evalsha) {
    pointers.push_back(&arguments);
  }
  auto connection = impl_->pool_.acquire();
  std::vector<Reply> replies = connection->execute_pipeline(pointers, std::chrono::milliseconds{0});

  std::vector<std::size_t> missing;
  for (std::size_t index = 0; index < replies.size(); ++index) {
    if (detail::is_noscript(replies[index])) {
      missing.push_back(index);
    }
  }
  if (missing.empty()) {
    return replies;
  }
  std::vector<std::vector<std::string>> eval;
  eval.reserve(missing.size());
  for (const auto index : missing) {
    eval.push_back(detail::eval_arguments(calls[index]));
  }
  pointers.clear();
  for (const auto& arguments : eval) {
    pointers.push_back(&arguments);
  }
  std::vector<Reply> retried = connection->execute_pipeline(pointers, std::chrono::milliseconds{0});
  for (std::size_t position = 0; position < missing.size(); ++position) {
    replies[missing[position]] = std::move(retried[position]);
  }
  return replies;
}

ServerInfo StandaloneClient::server_info() {
  {
    const std::lock_guard<std::mutex> lock(impl_->server_info_mutex_);
    if (impl_->server_info_) {
      return *impl_->server_info_;
    }
  }
  ServerInfo info = detail::parse_server_info(execute({{"INFO"}, {}, {}}).as_string());
  const std::lock_guard<std::mutex> lock(impl_->server_info_mutex_);
  impl_->server_info_ = info;
  return info;
}

}  // namespace flashsale
