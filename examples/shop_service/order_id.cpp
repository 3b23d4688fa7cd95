#include "order_id.hpp"

#include <fmt/core.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>

namespace shop {

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (const char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string new_order_id(std::string_view sale, std::string_view user) {
  static const auto started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format("{}.{}.{:x}-{:x}", sale, user, started_ms, ++counter);
}

std::optional<OrderIdParts> parse_order_id(std::string_view order_id) {
  const auto first = order_id.find('.');
  const auto second = first == std::string_view::npos ? first : order_id.find('.', first + 1);
  if (second == std::string_view::npos || order_id.size() > 200) {
    return std::nullopt;
  }
  OrderIdParts parts{std::string(order_id.substr(0, first)),
                     std::string(order_id.substr(first + 1, second - first - 1))};
  if (!valid_id(parts.sale) || !valid_id(parts.user)) {
    return std::nullopt;
  }
  return parts;
}

}  // namespace shop
