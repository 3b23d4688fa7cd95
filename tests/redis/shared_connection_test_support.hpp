// Helpers shared by the auto-pipelining tests: a client in shared mode and
// the server figures that show which connections the calls came over.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"

namespace flashsale::testing::shared_connection {

// A client whose calls without their own timeout go over `shared`
// connections; `pool_size` connections remain for pin() and blocking reads.
inline std::unique_ptr<StandaloneClient> make_shared_client(
    const RedisServer& server, std::size_t shared,
    std::chrono::milliseconds command_timeout = std::chrono::seconds(10),
    std::size_t pool_size = 2) {
  auto options = server.connection_options();
  options.command_timeout = command_timeout;
  PoolOptions pool;
  pool.size = pool_size;
  pool.wait_timeout = std::chrono::seconds(30);
  pool.shared_connections = shared;
  return std::make_unique<StandaloneClient>(options, pool);
}

// A number field of INFO `section`, e.g. ("stats", "total_connections_received").
inline long long info_figure(StandaloneClient& admin, const std::string& section,
                             const std::string& field) {
  const auto figure = info_number(admin, section, field + ":");
  REQUIRE(figure.has_value());
  return static_cast<long long>(*figure);
}

// Connections the server has accepted since it started (the admin's included).
inline long long connections_received(RedisServer& server) {
  return info_figure(server.admin(), "stats", "total_connections_received");
}

// Runs body(index) for index 0..count-1, each on its own thread. join()
// waits for all of them; so does the destructor (a failed REQUIRE in the
// test's thread then unwinds instead of terminating).
class ThreadGroup {
 public:
  template <typename Body>
  ThreadGroup(int count, Body body) {
    for (int index = 0; index < count; ++index) {
      threads_.emplace_back(body, index);
    }
  }
  ~ThreadGroup() { join(); }
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  void join() {
    for (auto& thread : threads_) {
      if (thread.joinable()) {
        thread.join();
      }
    }
  }

 private:
  std::vector<std::thread> threads_;
};

// Runs body(index) for index 0..count-1 on `count` threads and returns when
// all have finished.
template <typename Body>
void on_threads(int count, Body body) {
  ThreadGroup(count, std::move(body)).join();
}

}  // namespace flashsale::testing::shared_connection
