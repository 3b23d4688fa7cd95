#include "transport/hiredis_support.hpp"

#include <cerrno>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale::detail {

Reply to_reply(const redisReply& raw) {
  switch (raw.type) {
    case REDIS_REPLY_NIL:
      return Reply::nil();
    case REDIS_REPLY_INTEGER:
      return Reply::integer(raw.integer);
    case REDIS_REPLY_STATUS:
      return Reply::status(std::string(raw.str, raw.len));
    case REDIS_REPLY_ERROR:
      return Reply::error(std::string(raw.str, raw.len));
    case REDIS_REPLY_STRING:
      return Reply::string(std::string(raw.str, raw.len));
#if defined(REDIS_REPLY_VERB)
    case REDIS_REPLY_VERB:
      return Reply::string(std::string(raw.str, raw.len));
#endif
#if defined(REDIS_REPLY_BIGNUM)
    case REDIS_REPLY_BIGNUM:
      return Reply::string(std::string(raw.str, raw.len));
#endif
#if defined(REDIS_REPLY_DOUBLE)
    case REDIS_REPLY_DOUBLE:
      return Reply::floating(raw.dval);
#endif
#if defined(REDIS_REPLY_BOOL)
    case REDIS_REPLY_BOOL:
      return Reply::boolean(raw.integer != 0);
#endif
    default:
      break;
  }
  std::vector<Reply> elements;
  elements.reserve(raw.elements);
  for (std::size_t index = 0; index < raw.elements; ++index) {
    elements.push_back(to_reply(*raw.element[index]));
  }
  return Reply::array(std::move(elements));
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
