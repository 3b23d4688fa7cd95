// One hiredis context: private to the transport layer.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/function_ref.hpp"
#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/reply.hpp"
#include "transport/script_call.hpp"

struct redisContext;

namespace flashsale::detail {

// Not thread-safe: used by one thread at a time (the pool hands it out).
// Any failure of the transport marks it broken; a broken connection must be
// discarded, because the replies still in flight would be read by the next
// caller.
class Connection {
 public:
  // Connects, authenticates and selects the database. Throws ConnectionError,
  // TimeoutError, or ReplyError when AUTH or SELECT is refused.
  explicit Connection(const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Error replies are returned, not thrown. `timeout` zero uses the default.
  Reply execute(const std::vector<std::string>& arguments,
                std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
  std::vector<Reply> execute_pipeline(const std::vector<const std::vector<std::string>*>& commands,
                                      std::chrono::milliseconds timeout);
  // Writes what `format` appends in RESP (resp_command.hpp) to the buffer it
  // is given, as one pipeline, and reads `reply_count` replies: as many as
  // the commands it formatted. `timeout` zero uses the default.
  std::vector<Reply> execute_formatted(FunctionRef<void(std::string& out)> format,
                                       std::size_t reply_count, std::chrono::milliseconds timeout);
  // Writes calls[entry.index] for each of entries[0..count) formatted
  // straight from its views (EVAL with the source when entry.eval, else
  // EVALSHA), then `wait` when not null, and reads each entry's reply into
  // replies[entry.index] and the WAIT's into *wait_reply. Error replies are
  // returned. Default timeout. The NOSCRIPT fallback and retries are the
  // caller's (detail::run_durable_scripts).
  void script_round(const ScriptCallView* calls, const RoundEntry* entries, std::size_t count,
                    const std::vector<std::string>* wait, Reply* replies, Reply* wait_reply);

  bool broken() const noexcept { return broken_; }
  // True when the server closed the socket while the connection sat idle
  // (a restart), checked without sending anything: one recv(MSG_PEEK)
  // syscall.
  bool closed_by_server() const;
  // closed_by_server(), asked only when no call has finished on this
  // connection for longer than kIdleCheckAfter; a connection that answered a
  // moment ago is trusted without a syscall. What that trust can cost: a
  // server that closes the socket less than kIdleCheckAfter after the last
  // reply (a restart cannot be that quick; CLIENT KILL racing a call can)
  // fails the next call with ConnectionError, as if it had closed during it.
  bool closed_by_server_while_idle(std::chrono::steady_clock::time_point now) const;
  static constexpr std::chrono::milliseconds kIdleCheckAfter{1};

 private:
  struct ContextDeleter {
    void operator()(redisContext* context) const;
  };

  // Hands the commands formatted into commands_ to hiredis's output buffer
  // (sent by the next read_reply) and empties commands_.
  void flush_commands();
  Reply read_reply();
  void set_timeout(std::chrono::milliseconds timeout);
  [[noreturn]] void fail(int saved_errno);

  ConnectionOptions options_;
  // Where hiredis builds the reply being read; declared before context_,
  // which may clear a partial reply in it when it is freed.
  Reply parsed_;
  std::unique_ptr<redisContext, ContextDeleter> context_;
  std::chrono::milliseconds current_timeout_{0};
  std::string commands_;  // RESP formatted for the next write, reused
  // When the last reply was read (or the connection opened).
  std::chrono::steady_clock::time_point last_reply_at_ = std::chrono::steady_clock::now();
  bool broken_ = false;
};

}  // namespace flashsale::detail
