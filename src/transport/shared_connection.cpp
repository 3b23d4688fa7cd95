#include "transport/shared_connection.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <deque>
#include <iterator>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <fmt/format.h>

#include "flashsale/error.hpp"
#include "transport/hiredis_support.hpp"
#include "transport/resp_command.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale::detail {

namespace {

// Call::state.
constexpr int kWaiting = 0;
constexpr int kRead = 1;  // the call's thread holds the reader role
constexpr int kDone = 2;  // replies (or error) set; the Call may be gone

#if defined(MSG_NOSIGNAL)
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;
#endif

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
using ContextPointer = std::unique_ptr<redisContext, ContextDeleter>;

// A failure of the socket as an exception of the error tree, worded as
// Connection's: "redis connection to <endpoint>: ...". `received` is what
// recv() or send() returned, `saved_errno` its errno.
std::exception_ptr socket_error(const ConnectionOptions& options, long received, int saved_errno) {
  const std::string where = "redis connection to " + endpoint(options);
  if (received == 0) {
    return std::make_exception_ptr(
        ConnectionError(fmt::format("{}: Server closed the connection", where)));
  }
  if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT) {
    return std::make_exception_ptr(TimeoutError(
        fmt::format("{}: timed out after {} ms", where, options.command_timeout.count())));
  }
  return std::make_exception_ptr(
      ConnectionError(fmt::format("{}: {}", where, std::strerror(saved_errno))));
}

// One command on a context nobody else uses yet (AUTH, SELECT).
Reply handshake_command(const ConnectionOptions& options, redisContext& context,
                        const std::vector<std::string>& arguments) {
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto& argument : arguments) {
    pointers.push_back(argument.c_str());
    lengths.push_back(argument.size());
  }
  errno = 0;
  void* raw = redisCommandArgv(&context, static_cast<int>(arguments.size()), pointers.data(),
                               lengths.data());
  if (raw == nullptr) {
    throw_context_error(context, errno, "connection to " + endpoint(options),
                        options.command_timeout);
  }
  return take_reply(raw);
}

// Each thread's buffer for the commands it formats before taking the lock.
std::string& thread_commands() {
  thread_local std::string commands;
  return commands;
}

// True when the peer closed the socket, or sent bytes nobody asked for,
// while no reply was outstanding: one non-blocking recv(MSG_PEEK).
bool closed_by_server(int fd) {
  char byte = 0;
  const auto received = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (received >= 0) {
    return true;
  }
  return errno != EAGAIN && errno != EWOULDBLOCK;
}

// Each thread's bit of the futex bitset: distinct for the first 32 threads
// that call, shared (a spurious wake-up, checked) beyond.
std::uint32_t thread_bit() {
  static std::atomic<std::uint32_t> next_slot{0};
  thread_local const std::uint32_t bit = 1u << (next_slot.fetch_add(1) % 32);
  return bit;
}

}  // namespace

struct SharedConnection::Call {
  // Where the reply at `position` (0 for the first command) goes: the
  // caller's replies[entries[position].index] (replies[position] without
  // entries), and after `count` commands, *last (a WAIT's).
  Reply& slot(std::size_t position) const {
    if (position == count) {
      return *last;
    }
    return replies[entries != nullptr ? entries[position].index : position];
  }

  // The replies the call waits for: its commands', and the WAIT's.
  std::size_t expected() const { return count + (last != nullptr ? 1 : 0); }

  const RoundEntry* entries = nullptr;
  Reply* replies = nullptr;
  Reply* last = nullptr;
  std::size_t count = 0;
  std::size_t received = 0;
  std::exception_ptr error;
  std::uint32_t bit = 0;
  bool parked = false;  // under mutex_: its thread sleeps (or is about to) in wait()
  std::atomic<int> state{kWaiting};
};

// One socket and what is in flight on it. Everything but `sending` (the
// writer's) and the hiredis reader (the reader's) is under mutex_.
struct SharedConnection::Link {
  Reply parsed;  // where hiredis builds the reply being read (before context: see Connection)
  ContextPointer context;
  std::string out;            // formatted commands not yet handed to send()
  std::string sending;        // what the writer is sending now
  std::deque<Call*> pending;  // calls whose replies are outstanding, oldest first
  bool writing = false;
  bool reading = false;
  bool failed = false;
};

// The bits of the parked calls completed (or handed the reader role) under
// the lock, woken once the lock is released.
class SharedConnection::Waker {
 public:
  void add(Call& call) {
    if (call.parked) {
      call.parked = false;
      bits_ |= call.bit;
    }
  }
  std::uint32_t bits() const { return bits_; }

 private:
  std::uint32_t bits_ = 0;
};

SharedConnection::SharedConnection(ConnectionOptions options) : options_(std::move(options)) {}

SharedConnection::~SharedConnection() = default;

std::vector<Reply> SharedConnection::execute_pipeline(
    const std::vector<const std::vector<std::string>*>& commands) {
  std::vector<Reply> replies(commands.size());
  if (commands.empty()) {
    return replies;
  }
  std::string& formatted = thread_commands();
  formatted.clear();
  for (const auto* arguments : commands) {
    append_command(formatted, *arguments);
  }
  Call call;
  call.replies = replies.data();
  call.count = commands.size();
  run(formatted, call);
  return replies;
}

void SharedConnection::script_round(const ScriptCallView* calls, const RoundEntry* entries,
                                    std::size_t count, const std::vector<std::string>* wait,
                                    Reply* replies, Reply* wait_reply) {
  std::string& formatted = thread_commands();
  formatted.clear();
  append_script_round(formatted, calls, entries, count, wait);
  Call call;
  call.entries = entries;
  call.replies = replies;
  call.count = count;
  call.last = wait != nullptr ? wait_reply : nullptr;
  run(formatted, call);
}

void SharedConnection::run(std::string& formatted, Call& call) {
  if (call.expected() == 0) {
    return;
  }
  call.bit = thread_bit();
  Waker waker;
  std::shared_ptr<Link> link;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    link = current_link();
    link->out.append(formatted);
    link->pending.push_back(&call);
    if (!link->writing) {
      link->writing = true;
      write_out(lock, *link, waker);
    }
    // Unless the writing failed it, or the reader completed it or handed
    // it the role meanwhile: read if nobody does, else sleep.
    if (call.state.load() == kWaiting) {
      if (!link->reading) {
        link->reading = true;
        call.state.store(kRead);
      } else {
        call.parked = true;
      }
    }
  }
  reset_command_buffer(formatted);
  wake(waker.bits());
  int state = call.state.load();
  if (state == kWaiting) {
    state = wait(call);
  }
  if (state == kRead) {
    read_until_done(*link, call);
  }
  if (call.error) {
    std::rethrow_exception(call.error);
  }
}

// With the lock held: the current link, a new one when there is none or the
// idle one was closed by the server.
std::shared_ptr<SharedConnection::Link> SharedConnection::current_link() {
  if (link_ && link_->pending.empty() && !link_->writing && closed_by_server(link_->context->fd)) {
    count_connection_dropped(options_, "closed_by_server");
    link_.reset();
  }
  if (link_) {
    return link_;
  }
  const timeval connect_timeout = to_timeval(options_.connect_timeout.count() > 0
                                                 ? options_.connect_timeout
                                                 : std::chrono::milliseconds{24 * 3600 * 1000});
  errno = 0;
  redisContext* raw =
      options_.unix_socket.empty()
          ? redisConnectWithTimeout(options_.host.c_str(), options_.port, connect_timeout)
          : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), connect_timeout);
  const int saved_errno = errno;
  if (raw == nullptr) {
    throw ConnectionError(fmt::format("redis {}: cannot allocate a context", endpoint(options_)));
  }
  auto link = std::make_shared<Link>();
  link->context.reset(raw);
  redisContext* const context = link->context.get();
  if (context->err != 0) {
    throw_context_error(*context, saved_errno, "connect to " + endpoint(options_),
                        options_.connect_timeout);
  }
  read_replies_as_values(*context, link->parsed);
  // Bounds every send() and every wait of recv() for the next bytes; hiredis
  // treats zero as no limit.
  if (redisSetTimeout(context, to_timeval(options_.command_timeout)) != REDIS_OK) {
    throw_context_error(*context, errno, "connection to " + endpoint(options_),
                        options_.command_timeout);
  }
  if (!options_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!options_.user.empty()) {
      auth.push_back(options_.user);
    }
    auth.push_back(options_.password);
    const Reply reply = handshake_command(options_, *context, auth);
    if (reply.is_error()) {
      throw ReplyError(fmt::format("{} (authenticating as '{}' to {})", reply.error_message(),
                                   options_.user.empty() ? "default" : options_.user,
                                   endpoint(options_)));
    }
  }
  if (options_.db != 0) {
    const Reply reply =
        handshake_command(options_, *context, {"SELECT", std::to_string(options_.db)});
    if (reply.is_error()) {
      throw ReplyError(fmt::format("{} (selecting database {} on {})", reply.error_message(),
                                   options_.db, endpoint(options_)));
    }
  }
  count_connection_opened(options_);
  link_ = std::move(link);
  return link_;
}

// With the lock held and link.writing set: sends what is queued, without
// the lock, until nothing is; clears link.writing.
void SharedConnection::write_out(std::unique_lock<std::mutex>& lock, Link& link, Waker& waker) {
  while (!link.out.empty() && !link.failed) {
    link.sending.clear();
    std::swap(link.out, link.sending);
    lock.unlock();
    const int fd = link.context->fd;
    const char* next = link.sending.data();
    std::size_t left = link.sending.size();
    long sent = 1;
    int saved_errno = 0;
    while (left > 0) {
      sent = ::send(fd, next, left, kSendFlags);
      if (sent > 0) {
        next += sent;
        left -= static_cast<std::size_t>(sent);
      } else if (sent < 0 && errno == EINTR) {
        continue;
      } else {
        saved_errno = errno;
        break;
      }
    }
    lock.lock();
    if (left > 0) {
      fail(link, socket_error(options_, sent, saved_errno), waker);
    }
  }
  link.writing = false;
}

// The reader role, without the lock: reads and hands out replies until the
// caller's own call is complete (or failed), then passes the role on.
void SharedConnection::read_until_done(Link& link, Call& call) {
  redisReader* reader = link.context->reader;
  const int fd = link.context->fd;
  std::vector<Reply> replies;
  char buffer[16 * 1024];
  for (;;) {
    std::exception_ptr error;
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
        error = std::make_exception_ptr(ProtocolError(
            fmt::format("redis connection to {}: {}", endpoint(options_), reader->errstr)));
        break;
      }
      if (raw == nullptr) {
        break;
      }
      replies.push_back(take_reply(raw));
    }
    if (!replies.empty() || error) {
      Waker waker;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& reply : replies) {
          if (link.failed) {
            break;
          }
          if (link.pending.empty()) {
            error = std::make_exception_ptr(ProtocolError(fmt::format(
                "redis connection to {}: a reply nobody asked for", endpoint(options_))));
            break;
          }
          Call& oldest = *link.pending.front();
          oldest.slot(oldest.received++) = std::move(reply);
          if (oldest.received == oldest.expected()) {
            link.pending.pop_front();
            complete(oldest, waker);
          }
        }
        if (error) {
          fail(link, error, waker);
        }
        if (call.state.load() == kDone && !link.failed) {
          // Pass the role to the oldest sleeping call, else to the oldest
          // call (its thread is writing and reads next).
          Call* next = nullptr;
          for (Call* pending : link.pending) {
            if (pending->parked) {
              next = pending;
              break;
            }
          }
          if (next == nullptr && !link.pending.empty()) {
            next = link.pending.front();
          }
          if (next != nullptr) {
            waker.add(*next);
            next->state.store(kRead);
          } else {
            link.reading = false;
          }
        }
      }
      replies.clear();
      wake(waker.bits());
      if (call.state.load() == kDone) {
        return;
      }
    }
    const long received = ::recv(fd, buffer, sizeof buffer, 0);
    if (received > 0) {
      if (redisReaderFeed(reader, buffer, static_cast<std::size_t>(received)) != REDIS_OK) {
        error = std::make_exception_ptr(ProtocolError(
            fmt::format("redis connection to {}: {}", endpoint(options_), reader->errstr)));
      } else {
        continue;
      }
    } else if (received < 0 && errno == EINTR) {
      continue;
    } else {
      error = socket_error(options_, received, errno);
    }
    Waker waker;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fail(link, error, waker);
    }
    wake(waker.bits());
    return;
  }
}

// With the lock held: fails every outstanding call of `link` with `error`
// and shuts the socket down (a role blocked on it returns), once.
void SharedConnection::fail(Link& link, std::exception_ptr error, Waker& waker) {
  if (link.failed) {
    return;
  }
  link.failed = true;
  if (link_.get() == &link) {
    link_.reset();
  }
  ::shutdown(link.context->fd, SHUT_RDWR);
  count_connection_dropped(options_, "broken");
  for (Call* call : link.pending) {
    call->error = error;
    complete(*call, waker);
  }
  link.pending.clear();
  link.out.clear();
}

// With the lock held: the last touch of a call by anyone but its thread.
void SharedConnection::complete(Call& call, Waker& waker) {
  waker.add(call);
  call.state.store(kDone);
}

#if defined(__linux__)

namespace {

long futex(std::atomic<std::uint32_t>& word, int operation, std::uint32_t value,
           std::uint32_t bits) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), operation, value, nullptr,
                   nullptr, bits);
}

}  // namespace

// Sleeps until the call's state changes; returns it (kRead or kDone).
int SharedConnection::wait(Call& call) {
  for (;;) {
    // sleepers_ before the word, the word before the state (all seq_cst):
    // a waker that finds no sleeper changed the state before we read it.
    sleepers_.fetch_add(1);
    const std::uint32_t seen = wake_word_.load();
    const int state = call.state.load();
    if (state != kWaiting) {
      sleepers_.fetch_sub(1);
      return state;
    }
    futex(wake_word_, FUTEX_WAIT_BITSET_PRIVATE, seen, call.bit);
    sleepers_.fetch_sub(1);
  }
}

// After the lock is released: wakes the sleepers of `bits`, one syscall.
void SharedConnection::wake(std::uint32_t bits) {
  if (bits == 0) {
    return;
  }
  wake_word_.fetch_add(1);
  if (sleepers_.load() != 0) {
    futex(wake_word_, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, bits);
  }
}

#else

int SharedConnection::wait(Call& call) {
  std::unique_lock<std::mutex> lock(sleep_mutex_);
  sleep_condition_.wait(lock, [&call] { return call.state.load() != kWaiting; });
  return call.state.load();
}

void SharedConnection::wake(std::uint32_t bits) {
  if (bits == 0) {
    return;
  }
  { std::lock_guard<std::mutex> lock(sleep_mutex_); }
  sleep_condition_.notify_all();
}

#endif

}  // namespace flashsale::detail
