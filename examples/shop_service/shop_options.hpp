// The shop service's command line.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace shop {

enum class ShopMode {
  Library,   // flashsale in Redis on the request path, PostgreSQL behind it
  Postgres,  // the baseline: every request is a PostgreSQL transaction
};

struct ShopOptions {
  ShopMode mode = ShopMode::Library;
  int port = 0;  // 0: a free loopback port, printed at start
  // Empty: start a private PostgreSQL (initdb/pg_ctl in a temporary directory).
  std::string postgres;
  // Empty: start a private redis-server; else host:port.
  std::string redis;
  std::size_t http_threads = 128;  // one per open keep-alive connection
  std::size_t redis_pool = 64;
  std::size_t postgres_pool = 16;
  std::chrono::milliseconds hold_ttl{std::chrono::minutes(10)};
};

// Parses --mode=library|postgres, --port=N, --postgres=CONNINFO,
// --redis=HOST:PORT, --http-threads=N, --redis-pool=N, --postgres-pool=N,
// --hold-ttl-ms=N. Returns nullopt after printing usage (--help) or an error.
std::optional<ShopOptions> parse_shop_options(int argc, char** argv, bool& failed);

}  // namespace shop
