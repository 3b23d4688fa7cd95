#include "flashsale/hash_slot.hpp"

#include <array>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale {

namespace {

// CRC16-XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses.
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    unsigned crc = byte << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000U) != 0 ? (crc << 1) ^ 0x1021U : crc << 1;
    }
    table[byte] = static_cast<std::uint16_t>(crc & 0xFFFFU);
  }
  return table;
}

constexpr std::array<std::uint16_t, 256> kCrc16Table = make_crc16_table();

std::uint16_t crc16(std::string_view bytes) {
  std::uint16_t crc = 0;
  for (const char character : bytes) {
    const auto byte = static_cast<unsigned char>(character);
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ byte) & 0xFFU]);
  }
  return crc;
}

std::string_view hashed_part(std::string_view key) {
  const auto open = key.find('{');
  if (open == std::string_view::npos) {
    return key;
  }
  const auto close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) {
    return key;
  }
  return key.substr(open + 1, close - open - 1);
}

}  // namespace

std::uint16_t hash_slot(std::string_view key) {
  return static_cast<std::uint16_t>(crc16(hashed_part(key)) % kClusterSlotCount);
}

void require_single_slot(const std::vector<std::string>& keys, std::string_view operation) {
  if (keys.empty()) {
    return;
  }
  const std::uint16_t first = hash_slot(keys.front());
  bool single = true;
  for (const auto& key : keys) {
    single = single && hash_slot(key) == first;
  }
  if (single) {
    return;
  }
  std::string listing;
  for (const auto& key : keys) {
    listing += fmt::format("{}'{}' (slot {})", listing.empty() ? "" : ", ", key, hash_slot(key));
  }
  throw ConfigurationError(fmt::format(
      "the keys of operation '{}' hash to different slots: {}; Redis Cluster would refuse it "
      "with CROSSSLOT (every key of one operation must share one hash tag)",
      operation, listing));
}

}  // namespace flashsale
