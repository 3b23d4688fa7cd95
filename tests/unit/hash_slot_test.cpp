#include "flashsale/hash_slot.hpp"

#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"

using flashsale::hash_slot;

TEST_CASE("hash_slot matches the slots the Redis Cluster specification lists", "[hash_slot]") {
  // CRC16-XMODEM("123456789") is 0x31C3, the check value of the algorithm.
  CHECK(hash_slot("123456789") == 0x31C3);
  CHECK(hash_slot("foo") == 12182);
  CHECK(hash_slot("bar") == 5061);
  CHECK(hash_slot("") == 0);
}

TEST_CASE("only a non-empty first hash tag decides the slot", "[hash_slot]") {
  CHECK(hash_slot("{user1000}.following") == hash_slot("user1000"));
  CHECK(hash_slot("{user1000}.followers") == hash_slot("user1000"));
  CHECK(hash_slot("foo{}{bar}") != hash_slot("bar"));  // an empty first tag hashes the whole key
  CHECK(hash_slot("foo{{bar}}zap") == hash_slot("{bar"));
  CHECK(hash_slot("foo{bar}{zap}") == hash_slot("bar"));
  CHECK(hash_slot("{a}b") == hash_slot("a"));
  CHECK(hash_slot("fs:coupon:{summer}:stock") == hash_slot("fs:coupon:{summer}:issued"));
}

TEST_CASE("keys of one hash tag pass the single-slot check", "[hash_slot]") {
  CHECK_NOTHROW(flashsale::require_single_slot({}, "nothing"));
  CHECK_NOTHROW(flashsale::require_single_slot({"fs:stock:{deal}:available"}, "reserve"));
  CHECK_NOTHROW(flashsale::require_single_slot(
      {"fs:stock:{deal}:available", "fs:stock:{deal}:holds", "fs:stock:{deal}:events"}, "reserve"));
}

TEST_CASE("keys spanning slots are refused with a message naming them", "[hash_slot]") {
  const std::vector<std::string> keys{"fs:coupon:{a}:stock", "fs:coupon:{b}:issued"};
  REQUIRE(hash_slot(keys[0]) != hash_slot(keys[1]));
  try {
    flashsale::require_single_slot(keys, "issue coupon");
    FAIL("no ConfigurationError");
  } catch (const flashsale::ConfigurationError& error) {
    const std::string message = error.what();
    CHECK(message.find("issue coupon") != std::string::npos);
    CHECK(message.find("fs:coupon:{a}:stock") != std::string::npos);
    CHECK(message.find("fs:coupon:{b}:issued") != std::string::npos);
    CHECK(message.find("CROSSSLOT") != std::string::npos);
  }
}
