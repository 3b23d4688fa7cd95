// One connection that concurrent callers share, their commands written
// together (auto-pipelining): private to the transport layer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "flashsale/connection_options.hpp"
#include "flashsale/reply.hpp"
#include "transport/script_call.hpp"

namespace flashsale::detail {

// Thread-safe. Writing and reading run at the same time on one socket, so
// the server always has commands to work on while replies travel back:
//
// - A caller formats its commands (RESP) into a buffer of its thread, then
//   copies them onto the connection's output buffer and joins the FIFO of
//   calls whose replies are outstanding, both under one mutex, so one
//   caller's commands stay contiguous and the FIFO is in the order the bytes
//   go out. If no caller is writing, it becomes the writer: it swaps the
//   buffer out, sends it without the lock, and repeats while others
//   appended meanwhile. Others never wait for the writer: their bytes go
//   out with its next send.
// - One caller at a time is the reader: it blocks in recv() without the
//   lock, parses with the connection's own hiredis reader, and under the
//   lock hands the replies to the oldest calls in order. When its own call
//   is complete it passes the role to the oldest call still waiting. The
//   writer and the reader share only the socket (send and recv are safe
//   from two threads) and this mutex; hiredis's context I/O functions, which
//   share error fields, are used only before the connection is shared
//   (connect, AUTH, SELECT).
// - Waiting callers sleep on one futex word of this object with their own
//   bit (FUTEX_WAIT_BITSET); whoever completes calls sets their results,
//   releases the lock, and wakes exactly those bits with one FUTEX_WAKE_BITSET.
//   Nothing is woken under the lock and nothing touches a Call after
//   marking it done (its owner may return at once). Per call that is at
//   most one sleep, and one wake per read, whatever the number of callers.
//   Other systems than Linux use a condition variable instead.
//
// A transport failure or timeout (command_timeout bounds each wait for the
// next bytes from the server, and each send) fails every call whose reply is
// outstanding on that connection with that error (their outcome is unknown);
// the socket is shut down and the next call opens a new connection. An idle
// connection the server closed (a restart) is detected before anything is
// written to it, as the pool does: one recv(MSG_PEEK) when no reply is
// outstanding.
class SharedConnection {
 public:
  explicit SharedConnection(ConnectionOptions options);
  ~SharedConnection();
  SharedConnection(const SharedConnection&) = delete;
  SharedConnection& operator=(const SharedConnection&) = delete;

  // Replies to `commands`, in order; error replies are returned, not thrown.
  // The commands are written back to back, never interleaved with another
  // caller's. Throws ConnectionError / TimeoutError / ProtocolError, and
  // ReplyError when a new connection's AUTH or SELECT is refused.
  std::vector<Reply> execute_pipeline(const std::vector<const std::vector<std::string>*>& commands);

  // Connection::script_round's contract on the shared connection: writes
  // calls[entry.index] for each of entries[0..count) (EVAL with the source
  // when entry.eval, else EVALSHA) formatted straight from its views, then
  // `wait` when not null; reads each entry's reply into replies[entry.index]
  // and the WAIT's into *wait_reply. Error replies are returned; failures
  // throw as execute_pipeline does.
  void script_round(const ScriptCallView* calls, const RoundEntry* entries, std::size_t count,
                    const std::vector<std::string>* wait, Reply* replies, Reply* wait_reply);

 private:
  struct Call;
  struct Link;
  class Waker;

  // Sends the commands in `formatted` (emptied after) for `call` and waits
  // for their replies.
  void run(std::string& formatted, Call& call);
  std::shared_ptr<Link> current_link();
  void write_out(std::unique_lock<std::mutex>& lock, Link& link, Waker& waker);
  void read_until_done(Link& link, Call& call);
  void fail(Link& link, std::exception_ptr error, Waker& waker);
  void complete(Call& call, Waker& waker);
  int wait(Call& call);
  void wake(std::uint32_t bits);

  const ConnectionOptions options_;
  std::mutex mutex_;
  std::shared_ptr<Link> link_;  // null until the first call, and after a failure
  // The word waiting callers sleep on; bumped before every wake.
  std::atomic<std::uint32_t> wake_word_{0};
  std::atomic<int> sleepers_{0};
#if !defined(__linux__)
  std::mutex sleep_mutex_;
  std::condition_variable sleep_condition_;
#endif
};

}  // namespace flashsale::detail
