// Redis Cluster key slots: which of the 16384 slots a key lives in, and the
// construction-time check that an operation's keys can run as one command.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "flashsale/export.hpp"

namespace flashsale {

// Number of hash slots of a Redis Cluster.
inline constexpr std::uint16_t kClusterSlotCount = 16384;

// The slot Redis Cluster assigns `key` (what CLUSTER KEYSLOT answers):
// CRC16-XMODEM of the hash tag, modulo 16384. The hash tag is the part
// between the first `{` and the first `}` after it, when that part is not
// empty; otherwise the whole key is hashed ("{}x" and "x{" hash whole,
// "a{}{b}" hashes whole, "{a}b" hashes "a"). Pure function, thread-safe.
FLASHSALE_EXPORT std::uint16_t hash_slot(std::string_view key);

// Throws ConfigurationError, naming `operation` and every key with its slot,
// when `keys` do not all hash to one slot: such a key layout would make
// Redis Cluster refuse the operation with CROSSSLOT. Components call it at
// construction with the keys of each operation. Sends nothing.
FLASHSALE_EXPORT void require_single_slot(const std::vector<std::string>& keys,
                                          std::string_view operation);

}  // namespace flashsale
