// The one error tree of flashsale. Business outcomes (sold out, already
// reserved, ...) are values, never exceptions; these are infrastructure
// failures and caller mistakes.
#pragma once

#include <stdexcept>
#include <string>

#include "flashsale/export.hpp"

namespace flashsale {

// Base of every exception flashsale throws.
class FLASHSALE_EXPORT Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The server could not be reached, or the connection broke mid-reply.
// The connection involved has been discarded and is never reused.
class FLASHSALE_EXPORT ConnectionError : public Error {
 public:
  using Error::Error;
};

// A connect, a command or a wait for a pooled connection ran out of time.
// Whether a timed-out command took effect is unknown: retry it with the same
// ids, every state-changing operation of flashsale is idempotent.
class FLASHSALE_EXPORT TimeoutError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

// The server answered with an error reply (`-ERR ...`, `-WRONGTYPE ...`).
class FLASHSALE_EXPORT ReplyError : public Error {
 public:
  explicit ReplyError(const std::string& message);
  // The first word of the server's message, e.g. "WRONGPASS", "NOSCRIPT".
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

// The reply did not have the shape the caller expected.
class FLASHSALE_EXPORT ProtocolError : public Error {
 public:
  using Error::Error;
};

// A caller passed a value flashsale refuses. Raised before any I/O, so
// nothing was sent to Redis.
class FLASHSALE_EXPORT InvalidArgument : public Error {
 public:
  using Error::Error;
};

// The server is configured in a way that makes the guarantees void (see
// preflight.hpp), and the caller asked to refuse rather than warn.
class FLASHSALE_EXPORT ConfigurationError : public Error {
 public:
  using Error::Error;
};

}  // namespace flashsale
