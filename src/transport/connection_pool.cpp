#include "transport/connection_pool.hpp"

#include <fmt/format.h>

#include "common/option_checks.hpp"
#include "flashsale/error.hpp"

namespace flashsale::detail {

ConnectionPool::Lease::Lease(ConnectionPool& pool, std::unique_ptr<Connection> connection)
    : pool_(&pool), connection_(std::move(connection)) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), connection_(std::move(other.connection_)) {}

ConnectionPool::Lease::~Lease() {
  if (connection_) {
    pool_->give_back(std::move(connection_));
  }
}

ConnectionPool::ConnectionPool(ConnectionOptions connection, PoolOptions pool,
                               std::function<void(Connection&)> prepare)
    : connection_options_(std::move(connection)),
      pool_options_(pool),
      prepare_(std::move(prepare)),
      metrics_(pool_options_.size == 0 ? nullptr : make_pool_metrics(connection_options_)) {
  OptionChecks("PoolOptions").at_least("size", pool_options_.size, std::size_t{1});
  if (metrics_) {
    metrics_->size.add(static_cast<double>(pool_options_.size));
  }
}

ConnectionPool::~ConnectionPool() {
  if (metrics_) {
    metrics_->size.add(-static_cast<double>(pool_options_.size));
    metrics_->open.add(-static_cast<double>(open_));
  }
}

ConnectionPool::Lease ConnectionPool::acquire() {
  const auto started = std::chrono::steady_clock::now();
  Lease lease = acquire_until(started + pool_options_.wait_timeout);
  if (metrics_) {
    metrics_->wait_seconds.observe(std::chrono::steady_clock::now() - started);
    metrics_->in_use.add(1);
  }
  return lease;
}

ConnectionPool::Lease ConnectionPool::acquire_until(
    std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto ready = [this] { return !idle_.empty() || open_ < pool_options_.size; };
    if (pool_options_.wait_timeout.count() == 0) {
      available_.wait(lock, ready);
    } else if (!available_.wait_until(lock, deadline, ready)) {
      throw TimeoutError(fmt::format("no pooled connection became free within {} ms (pool size {})",
                                     pool_options_.wait_timeout.count(), pool_options_.size));
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      lock.unlock();
      if (connection->closed_by_server_while_idle(std::chrono::steady_clock::now())) {
        count_connection_dropped(connection_options_, "closed_by_server");
        connection.reset();
        forget_one();
        continue;
      }
      return Lease(*this, std::move(connection));
    }
    ++open_;
    lock.unlock();
    if (metrics_) {
      metrics_->open.add(1);
    }
    try {
      auto connection = std::make_unique<Connection>(connection_options_);
      if (prepare_) {
        prepare_(*connection);
      }
      return Lease(*this, std::move(connection));
    } catch (...) {
      forget_one();
      throw;
    }
  }
}

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) {
  if (metrics_) {
    metrics_->in_use.add(-1);
  }
  if (connection->broken()) {
    connection.reset();
    forget_one();
    return;
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(connection));
  }
  available_.notify_one();
}

void ConnectionPool::forget_one() {
  if (metrics_) {
    metrics_->open.add(-1);
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    --open_;
  }
  available_.notify_one();
}

}  // namespace flashsale::detail
