// A bounded pool of connections: private to the transport layer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "flashsale/connection_options.hpp"
#include "flashsale/export.hpp"
#include "transport/connection.hpp"
#include "transport/transport_metrics.hpp"

namespace flashsale::detail {

// Thread-safe. FLASHSALE_EXPORT: exported for bench/metrics_overhead_bench,
// not part of the API.
class FLASHSALE_EXPORT ConnectionPool {
 public:
  // Returns its connection to the pool when destroyed, unless it broke.
  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Connection> connection);
    ~Lease();
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // `prepare` (when given) runs on every new connection before it is handed
  // out; when it throws, the connection is dropped and the exception
  // propagates from acquire() (SentinelClient checks ROLE there).
  ConnectionPool(ConnectionOptions connection, PoolOptions pool,
                 std::function<void(Connection&)> prepare = {});
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Throws TimeoutError when no connection frees up within the wait timeout,
  // and whatever connecting throws.
  Lease acquire();

  const ConnectionOptions& connection_options() const noexcept { return connection_options_; }

 private:
  Lease acquire_until(std::chrono::steady_clock::time_point deadline);
  void give_back(std::unique_ptr<Connection> connection);
  void forget_one();

  const ConnectionOptions connection_options_;
  const PoolOptions pool_options_;
  const std::function<void(Connection&)> prepare_;
  const std::unique_ptr<PoolMetrics> metrics_;  // null: metrics off
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + leased
};

}  // namespace flashsale::detail
