// Order ids "<sale>.<user>.<unique>": the sale and the buyer travel in the id.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace shop {

// True for 1..64 bytes of [A-Za-z0-9_-] (sale names, users, SKUs).
bool valid_id(std::string_view id);

// A new id, unique within this process and across its restarts.
std::string new_order_id(std::string_view sale, std::string_view user);

struct OrderIdParts {
  std::string sale;
  std::string user;
};
// nullopt when `order_id` is not of the form above.
std::optional<OrderIdParts> parse_order_id(std::string_view order_id);

}  // namespace shop
