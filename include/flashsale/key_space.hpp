// Key naming and the validation of everything that becomes part of a key.
//
// Every key one operation touches shares one hash tag, so every component
// works unchanged on Redis Cluster:  <prefix>:<component>:{<id>}:<suffix>
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "flashsale/export.hpp"

namespace flashsale {

// Longest id that becomes part of a key (coupon, scope, sku, ranking name).
inline constexpr std::size_t kMaxKeyIdBytes = 128;
// Largest quantity: Lua numbers are doubles, exact up to 2^53.
inline constexpr std::int64_t kMaxQuantity = std::int64_t{1} << 53;
// Largest limit the options of a component accept for member ids
// (max_user_id_bytes, max_hold_id_bytes): Redis arguments are binary-safe,
// but a member id is stored in keys and in every event about it.
inline constexpr std::size_t kMaxMemberIdBytesLimit = 64 * 1024;
// Largest stream cap the options accept (max_stream_length of the coupon
// issuer, the stock reserver and the stream publisher); 0 means no cap.
inline constexpr std::size_t kMaxStreamLengthLimit = std::size_t{1} << 53;

// Throws InvalidArgument unless `id` is 1..128 bytes with no `{`, `}`,
// whitespace or control character (NUL included). `what` names the value in
// the message, e.g. "coupon id".
FLASHSALE_EXPORT void validate_key_id(std::string_view id, std::string_view what);

// Throws InvalidArgument unless `member` is 1..max_bytes bytes. Members (user
// ids, hold ids) travel as ARGV and may hold any bytes.
FLASHSALE_EXPORT void validate_member_id(std::string_view member, std::string_view what,
                                         std::size_t max_bytes);

// Throws InvalidArgument unless 1 <= quantity <= kMaxQuantity.
FLASHSALE_EXPORT void validate_quantity(std::int64_t quantity, std::string_view what);

// Thread-safe (immutable after construction).
class FLASHSALE_EXPORT KeySpace {
 public:
  // The prefix follows the id rules; ':' is allowed inside it. Default "fs".
  explicit KeySpace(std::string prefix = "fs");

  const std::string& prefix() const noexcept { return prefix_; }

  // "<prefix>:<component>:{<id>}" — validates `id` (InvalidArgument).
  std::string tagged(std::string_view component, std::string_view id) const;
  // "<prefix>:<component>:{<id>}:<suffix>" — validates `id` (InvalidArgument).
  std::string key(std::string_view component, std::string_view id, std::string_view suffix) const;

 private:
  std::string prefix_;
};

}  // namespace flashsale
