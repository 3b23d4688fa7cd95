#include "transport/hiredis_support.hpp"

#include <cerrno>
#include <cstddef>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale::detail {

// hiredis calls these while it parses (the redisReplyObjectFunctions of a
// reader). A top-level value is written into the connection's reply slot
// (the reader's privdata, handed to the first task); a nested one into the
// element its parent array reserved (arrays are sized when their header is
// read, so the pointer handed back stays valid).
// Nothing may throw into hiredis's C code: a failure returns nullptr, which
// hiredis reports as out of memory and frees the partial reply with
// free_reply.
struct RespReplyBuilder {
  static void* place(const redisReadTask* task, Reply&& value) noexcept {
    try {
      if (task->parent == nullptr) {
        auto* slot = static_cast<Reply*>(task->privdata);
        *slot = std::move(value);
        return slot;
      }
      auto& elements = static_cast<Reply*>(task->parent->obj)->elements_;
      const auto index = static_cast<std::size_t>(task->idx);
      if (index >= elements.size()) {
        return nullptr;
      }
      elements[index] = std::move(value);
      return &elements[index];
    } catch (...) {
      return nullptr;
    }
  }

  static void* create_string(const redisReadTask* task, char* text, std::size_t length) noexcept {
    try {
      switch (task->type) {
        case REDIS_REPLY_ERROR:
          return place(task, Reply::error(std::string(text, length)));
        case REDIS_REPLY_STATUS:
          return place(task, Reply::status(std::string(text, length)));
#if defined(REDIS_REPLY_VERB)
        case REDIS_REPLY_VERB:  // "txt:" and the text; the format is dropped
          return length < 4 ? nullptr
                            : place(task, Reply::string(std::string(text + 4, length - 4)));
#endif
        default:  // bulk strings (and big numbers, as their digits)
          return place(task, Reply::string(std::string(text, length)));
      }
    } catch (...) {
      return nullptr;
    }
  }

  // hiredis 0.14 passes the element count as int, 1.x as size_t.
  template <typename Count>
  static void* create_array(const redisReadTask* task, Count count) noexcept {
    try {
      Reply array;
      array.type_ = Reply::Type::Array;
      array.elements_.resize(static_cast<std::size_t>(count));
      return place(task, std::move(array));
    } catch (...) {
      return nullptr;
    }
  }

  static void* create_integer(const redisReadTask* task, long long value) noexcept {
    return place(task, Reply::integer(value));
  }

  static void* create_nil(const redisReadTask* task) noexcept {
    return place(task, Reply::nil());
  }

#if FLASHSALE_HIREDIS_1
  static void* create_double(const redisReadTask* task, double value, char*, std::size_t) noexcept {
    return place(task, Reply::floating(value));
  }

  static void* create_bool(const redisReadTask* task, int value) noexcept {
    return place(task, Reply::boolean(value != 0));
  }
#endif

  // Called by hiredis on the top-level value only (it owns the rest), when
  // it drops a partial reply.
  static void free_reply(void* reply) noexcept {
    *static_cast<Reply*>(reply) = Reply();
  }
};

namespace {

template <typename Function>
struct CountOf;
template <typename Result, typename Task, typename Count>
struct CountOf<Result (*)(Task, Count)> {
  using type = Count;
};

redisReplyObjectFunctions make_reply_functions() {
  redisReplyObjectFunctions functions{};
  functions.createString = &RespReplyBuilder::create_string;
  functions.createArray =
      &RespReplyBuilder::create_array<CountOf<decltype(functions.createArray)>::type>;
  functions.createInteger = &RespReplyBuilder::create_integer;
  functions.createNil = &RespReplyBuilder::create_nil;
#if FLASHSALE_HIREDIS_1
  functions.createDouble = &RespReplyBuilder::create_double;
  functions.createBool = &RespReplyBuilder::create_bool;
#endif
  functions.freeObject = &RespReplyBuilder::free_reply;
  return functions;
}

// hiredis's reader holds a non-const pointer; nothing writes through it.
redisReplyObjectFunctions reply_functions = make_reply_functions();

}  // namespace

void read_replies_as_values(redisContext& context, Reply& slot) {
  context.reader->fn = &reply_functions;
  context.reader->privdata = &slot;
#if FLASHSALE_HIREDIS_1
  redisSetPushCallback(&context, nullptr);
#endif
}

Reply take_reply(void* raw) {
  Reply reply = std::move(*static_cast<Reply*>(raw));
  *static_cast<Reply*>(raw) = Reply();
  return reply;
}

timeval to_timeval(std::chrono::milliseconds duration) {
  timeval value{};
  value.tv_sec = static_cast<decltype(value.tv_sec)>(duration.count() / 1000);
  value.tv_usec = static_cast<decltype(value.tv_usec)>((duration.count() % 1000) * 1000);
  return value;
}

std::string endpoint(const ConnectionOptions& options) {
  return options.unix_socket.empty() ? fmt::format("{}:{}", options.host, options.port)
                                     : options.unix_socket;
}

void throw_context_error(const redisContext& context, int saved_errno, const std::string& where,
                         std::chrono::milliseconds timeout) {
  const std::string message = fmt::format("redis {}: {}", where, context.errstr);
  const bool timed_out =
      is_timeout_error_code(context.err) ||
      (context.err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
                                       saved_errno == ETIMEDOUT || saved_errno == EINPROGRESS));
  if (timed_out) {
    // hiredis reports a socket timeout as EAGAIN ("Resource temporarily
    // unavailable"); say what happened instead.
    throw TimeoutError(fmt::format("redis {}: timed out after {} ms", where, timeout.count()));
  }
  if (context.err == REDIS_ERR_PROTOCOL) {
    throw ProtocolError(message);
  }
  throw ConnectionError(message);
}

}  // namespace flashsale::detail
