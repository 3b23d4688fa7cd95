#include "flashsale/reply.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale {

namespace {

const char* type_name(Reply::Type type) {
  switch (type) {
    case Reply::Type::Nil:
      return "nil";
    case Reply::Type::Status:
      return "status";
    case Reply::Type::Error:
      return "error";
    case Reply::Type::Integer:
      return "integer";
    case Reply::Type::String:
      return "string";
    case Reply::Type::Array:
      return "array";
    case Reply::Type::Double:
      return "double";
    case Reply::Type::Boolean:
      return "boolean";
  }
  return "unknown";
}

[[noreturn]] void throw_unexpected(const Reply& reply, const char* expected) {
  reply.throw_if_error();
  throw ProtocolError(fmt::format("expected {} reply, got {}", expected, reply.describe()));
}

}  // namespace

Reply Reply::status(std::string text) {
  Reply reply;
  reply.type_ = Type::Status;
  reply.text_ = std::move(text);
  return reply;
}

Reply Reply::error(std::string message) {
  Reply reply;
  reply.type_ = Type::Error;
  reply.text_ = std::move(message);
  return reply;
}

Reply Reply::integer(long long value) {
  Reply reply;
  reply.type_ = Type::Integer;
  reply.integer_ = value;
  return reply;
}

Reply Reply::string(std::string value) {
  Reply reply;
  reply.type_ = Type::String;
  reply.text_ = std::move(value);
  return reply;
}

Reply Reply::array(std::vector<Reply> elements) {
  Reply reply;
  reply.type_ = Type::Array;
  reply.elements_ = std::move(elements);
  return reply;
}

Reply Reply::floating(double value) {
  Reply reply;
  reply.type_ = Type::Double;
  reply.double_ = value;
  return reply;
}

Reply Reply::boolean(bool value) {
  Reply reply;
  reply.type_ = Type::Boolean;
  reply.integer_ = value ? 1 : 0;
  return reply;
}

long long Reply::as_integer() const {
  if (type_ == Type::Integer || type_ == Type::Boolean) {
    return integer_;
  }
  if (type_ == Type::String && !text_.empty()) {
    errno = 0;
    char* end = nullptr;
    const long long value = std::strtoll(text_.c_str(), &end, 10);
    if (errno == 0 && end == text_.c_str() + text_.size()) {
      return value;
    }
  }
  throw_unexpected(*this, "integer");
}

double Reply::as_double() const {
  if (type_ == Type::Double) {
    return double_;
  }
  if (type_ == Type::Integer) {
    return static_cast<double>(integer_);
  }
  if (type_ == Type::String && !text_.empty()) {
    char* end = nullptr;
    const double value = std::strtod(text_.c_str(), &end);
    if (end == text_.c_str() + text_.size()) {
      return value;
    }
  }
  throw_unexpected(*this, "number");
}

const std::string& Reply::as_string() const {
  if (type_ != Type::String && type_ != Type::Status) {
    throw_unexpected(*this, "string");
  }
  return text_;
}

std::optional<std::string> Reply::as_optional_string() const {
  if (type_ == Type::Nil) {
    return std::nullopt;
  }
  return as_string();
}

const std::vector<Reply>& Reply::as_array() const {
  if (type_ != Type::Array && type_ != Type::Nil) {
    throw_unexpected(*this, "array");
  }
  return elements_;
}

const std::string& Reply::error_message() const noexcept {
  static const std::string kEmpty;
  return type_ == Type::Error ? text_ : kEmpty;
}

void Reply::throw_if_error() const {
  if (type_ == Type::Error) {
    throw ReplyError(text_);
  }
}

std::string Reply::describe() const {
  switch (type_) {
    case Type::Nil:
      return "nil";
    case Type::Integer:
    case Type::Boolean:
      return fmt::format("{} {}", type_name(type_), integer_);
    case Type::Double:
      return fmt::format("double {}", double_);
    case Type::Array:
      return fmt::format("array of {}", elements_.size());
    default:
      break;
  }
  constexpr std::size_t kShown = 80;
  return fmt::format("{} \"{}{}\"", type_name(type_), text_.substr(0, kShown),
                     text_.size() > kShown ? "..." : "");
}

}  // namespace flashsale
