#include "flashsale/reply.hpp"

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "transport/server_info.hpp"

using flashsale::Reply;

TEST_CASE("typed accessors return the value of the matching type", "[reply]") {
  CHECK(Reply::integer(42).as_integer() == 42);
  CHECK(Reply::string("17").as_integer() == 17);
  CHECK(Reply::string("2.5").as_double() == 2.5);
  CHECK(Reply::status("OK").as_string() == "OK");
  CHECK_FALSE(Reply::nil().as_optional_string().has_value());
  CHECK(Reply::nil().as_array().empty());
  CHECK(Reply::array({Reply::integer(1), Reply::string("a")}).as_array().size() == 2);
}

TEST_CASE("an error reply throws ReplyError with the server code", "[reply]") {
  const Reply reply = Reply::error("WRONGTYPE Operation against a key");
  try {
    (void)reply.as_integer();
    FAIL("no exception");
  } catch (const flashsale::ReplyError& error) {
    CHECK(error.code() == "WRONGTYPE");
  }
}

TEST_CASE("an unexpected type throws ProtocolError", "[reply]") {
  CHECK_THROWS_AS(Reply::string("abc").as_integer(), flashsale::ProtocolError);
  CHECK_THROWS_AS(Reply::integer(1).as_string(), flashsale::ProtocolError);
  CHECK_THROWS_AS(Reply::string("x").as_array(), flashsale::ProtocolError);
  CHECK_THROWS_AS(Reply::string("1x").as_double(), flashsale::ProtocolError);
}

TEST_CASE("INFO text yields version and eviction policy", "[reply]") {
  const auto info = flashsale::detail::parse_server_info(
      "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n# Memory\r\n"
      "maxmemory_policy:allkeys-lru\r\n");
  CHECK(info.version == "7.0.15");
  CHECK(info.major_version == 7);
  CHECK(info.minor_version == 0);
  CHECK(info.maxmemory_policy == "allkeys-lru");
  CHECK(info.mode == "standalone");
  CHECK_THROWS_AS(flashsale::detail::parse_server_info("nothing"), flashsale::ProtocolError);
}
