// ConnectionOptions from redis:// and unix:// URLs; rediss:// refused.
#include <chrono>
#include <string>

#include "catch.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/error.hpp"

using namespace std::chrono_literals;
using flashsale::connection_options_from_url;

TEST_CASE("a redis URL gives host, port, credentials, db and timeouts", "[url]") {
  const auto plain = connection_options_from_url("redis://cache.internal");
  CHECK(plain.host == "cache.internal");
  CHECK(plain.port == 6379);
  CHECK(plain.db == 0);
  CHECK(plain.user.empty());
  CHECK(plain.password.empty());
  CHECK(plain.command_timeout == flashsale::ConnectionOptions{}.command_timeout);

  const auto full = connection_options_from_url(
      "redis://app:p%40ss%3Aw0rd@10.0.0.5:6380/3?connect_timeout_ms=250&command_timeout_ms=0");
  CHECK(full.host == "10.0.0.5");
  CHECK(full.port == 6380);
  CHECK(full.user == "app");
  CHECK(full.password == "p@ss:w0rd");
  CHECK(full.db == 3);
  CHECK(full.connect_timeout == 250ms);
  CHECK(full.command_timeout == 0ms);

  const auto password_only = connection_options_from_url("redis://:secret@localhost");
  CHECK(password_only.user.empty());
  CHECK(password_only.password == "secret");
  const auto user_only = connection_options_from_url("redis://reader@localhost:7000?db=2");
  CHECK(user_only.user == "reader");
  CHECK(user_only.password.empty());
  CHECK(user_only.port == 7000);
  CHECK(user_only.db == 2);

  const auto ipv6 = connection_options_from_url("redis://[::1]:6390/1");
  CHECK(ipv6.host == "::1");
  CHECK(ipv6.port == 6390);
  CHECK(ipv6.db == 1);
  CHECK(connection_options_from_url("redis://").host == "127.0.0.1");
}

TEST_CASE("a unix URL gives the socket path", "[url]") {
  const auto socket = connection_options_from_url("unix://:pw@/run/redis/redis.sock?db=4");
  CHECK(socket.unix_socket == "/run/redis/redis.sock");
  CHECK(socket.password == "pw");
  CHECK(socket.db == 4);
}

TEST_CASE("rediss URLs are refused with ConfigurationError: the transport speaks no TLS", "[url]") {
  CHECK_THROWS_AS(connection_options_from_url("rediss://cache:6380"),
                  flashsale::ConfigurationError);
}

TEST_CASE("malformed connection URLs raise InvalidArgument", "[url]") {
  for (const char* url :
       {"cache:6379", "http://cache", "redis://cache:0", "redis://cache:65536", "redis://cache:x",
        "redis://cache:", "redis://:6379", "redis://[::1", "redis://[::1]x", "redis://cache/x",
        "redis://cache/-1", "redis://cache?db", "redis://cache?timeout=1", "redis://u:%4@cache",
        "redis://cache?command_timeout_ms=-5", "unix://host/sock", "unix://"}) {
    INFO(url);
    CHECK_THROWS_AS(connection_options_from_url(url), flashsale::InvalidArgument);
  }
}
