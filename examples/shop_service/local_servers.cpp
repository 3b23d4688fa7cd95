#include "local_servers.hpp"

#include <flashsale/error.hpp>

#include <stdexcept>

namespace shop {

LocalServers::LocalServers(const ShopOptions& options) {
  if (options.postgres.empty()) {
    postgres_ = std::make_unique<flashsale::testing::PostgresServer>();
    conninfo_ = postgres_->conninfo();
  } else {
    conninfo_ = options.postgres;
  }
  if (options.redis.empty()) {
    redis_server_ = std::make_unique<flashsale::testing::RedisServer>();
    redis_ = redis_server_->connection_options();
  } else {
    const auto colon = options.redis.rfind(':');
    if (colon == std::string::npos) {
      throw std::runtime_error("--redis wants HOST:PORT, got " + options.redis);
    }
    redis_.host = options.redis.substr(0, colon);
    redis_.port = std::stoi(options.redis.substr(colon + 1));
  }
}

}  // namespace shop
