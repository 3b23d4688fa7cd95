#include "flashsale/error.hpp"

namespace flashsale {

namespace {
std::string first_word(const std::string& message) {
  const auto end = message.find(' ');
  return end == std::string::npos ? message : message.substr(0, end);
}
}  // namespace

ReplyError::ReplyError(const std::string& message) : Error(message), code_(first_word(message)) {}

}  // namespace flashsale
