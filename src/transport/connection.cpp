#include "transport/connection.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "flashsale/error.hpp"
#include "transport/hiredis_compat.hpp"
#include "transport/hiredis_support.hpp"
#include "transport/resp_command.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale::detail {

void Connection::ContextDeleter::operator()(redisContext* context) const {
  redisFree(context);
}

Connection::Connection(const ConnectionOptions& options) : options_(options) {
  const timeval connect_timeout =
      to_timeval(options.connect_timeout.count() > 0 ? options.connect_timeout
                                                     : std::chrono::milliseconds{24 * 3600 * 1000});
  errno = 0;
  redisContext* raw =
      options.unix_socket.empty()
          ? redisConnectWithTimeout(options.host.c_str(), options.port, connect_timeout)
          : redisConnectUnixWithTimeout(options.unix_socket.c_str(), connect_timeout);
  const int saved_errno = errno;
  if (raw == nullptr) {
    throw ConnectionError(fmt::format("redis {}: cannot allocate a context", endpoint(options)));
  }
  context_.reset(raw);
  if (context_->err != 0) {
    broken_ = true;
    throw_context_error(*context_, saved_errno, "connect to " + endpoint(options),
                        options.connect_timeout);
  }
  read_replies_as_values(*context_, parsed_);
  set_timeout(options.command_timeout);

  if (!options.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!options.user.empty()) {
      auth.push_back(options.user);
    }
    auth.push_back(options.password);
    const Reply reply = execute(auth);
    if (reply.is_error()) {
      broken_ = true;
      throw ReplyError(fmt::format("{} (authenticating as '{}' to {})", reply.error_message(),
                                   options.user.empty() ? "default" : options.user,
                                   endpoint(options)));
    }
  }
  if (options.db != 0) {
    const Reply reply = execute({"SELECT", std::to_string(options.db)});
    if (reply.is_error()) {
      broken_ = true;
      throw ReplyError(fmt::format("{} (selecting database {} on {})", reply.error_message(),
                                   options.db, endpoint(options)));
    }
  }
  count_connection_opened(options_);
}

Connection::~Connection() {
  if (broken_) {
    count_connection_dropped(options_, "broken");
  }
}

void Connection::set_timeout(std::chrono::milliseconds timeout) {
  if (timeout == current_timeout_) {
    return;
  }
  // hiredis treats a zero timeval as "no timeout".
  if (redisSetTimeout(context_.get(), to_timeval(timeout)) != REDIS_OK) {
    fail(errno);
  }
  current_timeout_ = timeout;
}

void Connection::fail(int saved_errno) {
  broken_ = true;
  throw_context_error(*context_, saved_errno, "connection to " + endpoint(options_),
                      current_timeout_);
}

void Connection::flush_commands() {
  // hiredis copies the formatted commands into its output buffer here.
  const int appended =
      redisAppendFormattedCommand(context_.get(), commands_.data(), commands_.size());
  reset_command_buffer(commands_);
  if (appended != REDIS_OK) {
    fail(errno);
  }
}

Reply Connection::read_reply() {
  void* raw = nullptr;
  errno = 0;
  if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
    fail(errno);
  }
  last_reply_at_ = std::chrono::steady_clock::now();
  return take_reply(raw);
}

Reply Connection::execute(const std::vector<std::string>& arguments,
                          std::chrono::milliseconds timeout) {
  set_timeout(timeout.count() > 0 ? timeout : options_.command_timeout);
  commands_.clear();  // nothing left over from a call that threw while formatting
  append_command(commands_, arguments);
  flush_commands();
  return read_reply();
}

void Connection::script_round(const ScriptCallView* calls, const RoundEntry* entries,
                              std::size_t count, const std::vector<std::string>* wait,
                              Reply* replies, Reply* wait_reply) {
  set_timeout(options_.command_timeout);
  commands_.clear();
  append_script_round(commands_, calls, entries, count, wait);
  flush_commands();
  for (std::size_t position = 0; position < count; ++position) {
    replies[entries[position].index] = read_reply();
  }
  if (wait != nullptr) {
    *wait_reply = read_reply();
  }
}

std::vector<Reply> Connection::execute_pipeline(
    const std::vector<const std::vector<std::string>*>& commands,
    std::chrono::milliseconds timeout) {
  return execute_formatted(
      [&commands](std::string& out) {
        for (const auto* arguments : commands) {
          append_command(out, *arguments);
        }
      },
      commands.size(), timeout);
}

std::vector<Reply> Connection::execute_formatted(FunctionRef<void(std::string& out)> format,
                                                 std::size_t reply_count,
                                                 std::chrono::milliseconds timeout) {
  set_timeout(timeout.count() > 0 ? timeout : options_.command_timeout);
  commands_.clear();
  format(commands_);
  flush_commands();
  std::vector<Reply> replies;
  replies.reserve(reply_count);
  for (std::size_t index = 0; index < reply_count; ++index) {
    replies.push_back(read_reply());
  }
  return replies;
}

bool Connection::closed_by_server() const {
  char byte = 0;
  const auto received = ::recv(context_->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (received == 0) {
    return true;  // orderly shutdown by the peer
  }
  if (received > 0) {
    return true;  // unsolicited bytes: the stream is out of step
  }
  return errno != EAGAIN && errno != EWOULDBLOCK;
}

bool Connection::closed_by_server_while_idle(std::chrono::steady_clock::time_point now) const {
  return now - last_reply_at_ > kIdleCheckAfter && closed_by_server();
}

}  // namespace flashsale::detail
