// Many threads through one pooled client.
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"

TEST_CASE("32 threads x 10000 INCR through one pooled client count exactly 320000",
          "[transport][stress]") {
  flashsale::testing::RedisServer server;
  auto client = server.make_client(16);
  const std::string key = "fs:test:{counter}:n";
  constexpr int kThreads = 32;
  constexpr int kIncrements = 10000;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&] {
      for (int increment = 0; increment < kIncrements; ++increment) {
        client->execute({{"INCR", key}, key, {}});
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(client->execute({{"GET", key}, key, {}}).as_integer() == kThreads * kIncrements);
}
