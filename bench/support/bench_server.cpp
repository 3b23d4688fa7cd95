#include "bench_server.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "redis_server.hpp"

namespace bench {

BenchServer::BenchServer() {
  const char* configured = std::getenv("FLASHSALE_BENCH_REDIS");
  if (configured != nullptr && *configured != '\0') {
    const std::string endpoint = configured;
    const auto colon = endpoint.rfind(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument("FLASHSALE_BENCH_REDIS must be host:port");
    }
    host_ = endpoint.substr(0, colon);
    port_ = std::atoi(endpoint.c_str() + colon + 1);
    return;
  }
  private_server_ = std::make_unique<flashsale::testing::RedisServer>();
  port_ = private_server_->port();
}

BenchServer::~BenchServer() = default;

flashsale::ConnectionOptions BenchServer::connection_options() const {
  flashsale::ConnectionOptions options;
  options.host = host_;
  options.port = port_;
  options.command_timeout = std::chrono::seconds(30);
  return options;
}

std::unique_ptr<flashsale::StandaloneClient> BenchServer::make_client(
    std::size_t pool_size, std::size_t shared_connections) const {
  flashsale::PoolOptions pool;
  pool.size = pool_size;
  pool.shared_connections = shared_connections;
  pool.wait_timeout = std::chrono::seconds(30);
  return std::make_unique<flashsale::StandaloneClient>(connection_options(), pool);
}

void BenchServer::flush() {
  make_client(1)->execute({{"FLUSHALL"}, {}, {}});
}

bool take_smoke_flag(int& argc, char** argv) {
  for (int index = 1; index < argc; ++index) {
    if (std::strcmp(argv[index], "--smoke") == 0) {
      for (int rest = index; rest + 1 < argc; ++rest) {
        argv[rest] = argv[rest + 1];
      }
      --argc;
      return true;
    }
  }
  return false;
}

}  // namespace bench
