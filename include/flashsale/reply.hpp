// A Redis reply as a value type. Components turn replies into typed results;
// no hiredis type ever leaves the transport layer.
//
// A plain value: copies are independent, and const access from many threads
// at once is safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "flashsale/export.hpp"

namespace flashsale {

namespace detail {
struct RespReplyBuilder;
}  // namespace detail

class FLASHSALE_EXPORT Reply {
 public:
  enum class Type { Nil, Status, Error, Integer, String, Array, Double, Boolean };

  Reply() = default;  // Nil
  static Reply nil() { return Reply(); }
  static Reply status(std::string text);
  static Reply error(std::string message);
  static Reply integer(long long value);
  static Reply string(std::string value);
  static Reply array(std::vector<Reply> elements);
  static Reply floating(double value);
  static Reply boolean(bool value);

  Type type() const noexcept { return type_; }
  bool is_nil() const noexcept { return type_ == Type::Nil; }
  bool is_error() const noexcept { return type_ == Type::Error; }

  // Typed accessors. On an error reply each throws ReplyError with the
  // server's message; on another unexpected type each throws ProtocolError.
  long long as_integer() const;                           // Integer or a decimal String
  double as_double() const;                               // Double, Integer or numeric String
  const std::string& as_string() const;                   // String or Status
  std::optional<std::string> as_optional_string() const;  // Nil gives nullopt
  const std::vector<Reply>& as_array() const;             // Array (Nil gives empty)

  // The server's message of an error reply; empty for other types.
  const std::string& error_message() const noexcept;
  // Throws ReplyError when this is an error reply.
  void throw_if_error() const;

  // A short human-readable rendering, for messages and debugging.
  std::string describe() const;

 private:
  // The transport's RESP reader fills an array's elements in place as it
  // parses them.
  friend struct detail::RespReplyBuilder;

  Type type_ = Type::Nil;
  long long integer_ = 0;
  double double_ = 0;
  std::string text_;
  std::vector<Reply> elements_;
};

}  // namespace flashsale
