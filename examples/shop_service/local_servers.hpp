// The service's PostgreSQL and Redis: the addresses given on the command
// line, or private servers started on free loopback ports in temporary
// directories (Debian's initdb/postgres, redis-server) and stopped by the
// destructor.
#pragma once

#include <flashsale/connection_options.hpp>

#include <memory>
#include <string>

#include "postgres_server.hpp"
#include "redis_server.hpp"
#include "shop_options.hpp"

namespace shop {

class LocalServers {
 public:
  // Throws std::runtime_error (with the reason, e.g. no initdb) when a server
  // cannot be started.
  explicit LocalServers(const ShopOptions& options);

  const std::string& postgres_conninfo() const noexcept { return conninfo_; }
  const flashsale::ConnectionOptions& redis() const noexcept { return redis_; }

 private:
  std::unique_ptr<flashsale::testing::PostgresServer> postgres_;
  std::unique_ptr<flashsale::testing::RedisServer> redis_server_;
  std::string conninfo_;
  flashsale::ConnectionOptions redis_;
};

}  // namespace shop
