#include "flashsale/key_space.hpp"

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale {

namespace {

bool is_forbidden_in_key(unsigned char byte) {
  return byte < 0x20 || byte == 0x7f || byte == ' ' || byte == '{' || byte == '}';
}

std::string printable(std::string_view value) {
  constexpr std::size_t kShown = 40;
  std::string out;
  for (const char character : value.substr(0, kShown)) {
    const auto byte = static_cast<unsigned char>(character);
    if (byte < 0x20 || byte >= 0x7f) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += character;
    }
  }
  if (value.size() > kShown) {
    out += "...";
  }
  return out;
}

}  // namespace

void validate_key_id(std::string_view id, std::string_view what) {
  if (id.empty()) {
    throw InvalidArgument(fmt::format("{} must not be empty", what));
  }
  if (id.size() > kMaxKeyIdBytes) {
    throw InvalidArgument(fmt::format("{} is {} bytes, longer than the limit of {}: \"{}\"", what,
                                      id.size(), kMaxKeyIdBytes, printable(id)));
  }
  for (const char character : id) {
    if (is_forbidden_in_key(static_cast<unsigned char>(character))) {
      throw InvalidArgument(fmt::format(
          "{} \"{}\" contains a brace, whitespace or control character", what, printable(id)));
    }
  }
}

void validate_member_id(std::string_view member, std::string_view what, std::size_t max_bytes) {
  if (member.empty()) {
    throw InvalidArgument(fmt::format("{} must not be empty", what));
  }
  if (member.size() > max_bytes) {
    throw InvalidArgument(
        fmt::format("{} is {} bytes, longer than the limit of {}", what, member.size(), max_bytes));
  }
}

void validate_quantity(std::int64_t quantity, std::string_view what) {
  if (quantity < 1 || quantity > kMaxQuantity) {
    throw InvalidArgument(
        fmt::format("{} must be between 1 and 2^53 ({}), got {}", what, kMaxQuantity, quantity));
  }
}

KeySpace::KeySpace(std::string prefix) : prefix_(std::move(prefix)) {
  validate_key_id(prefix_, "key prefix");
}

std::string KeySpace::tagged(std::string_view component, std::string_view id) const {
  validate_key_id(id, fmt::format("{} id", component));
  return fmt::format("{}:{}:{{{}}}", prefix_, component, id);
}

std::string KeySpace::key(std::string_view component, std::string_view id,
                          std::string_view suffix) const {
  return fmt::format("{}:{}", tagged(component, id), suffix);
}

}  // namespace flashsale
