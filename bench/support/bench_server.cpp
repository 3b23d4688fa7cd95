#include "bench_server.hpp"

#include <sched.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

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

std::string BenchServer::separate_server_and_client_cpus() {
  if (private_server_ == nullptr) {
    return "not pinned (an external server)";
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2) {
    return "not pinned (fewer than 2 CPUs available)";
  }
  // The first CPU this process may use goes to the server, the rest to us.
  int server_cpu = 0;
  while (!CPU_ISSET(server_cpu, &allowed)) {
    ++server_cpu;
  }
  cpu_set_t server_set;
  CPU_ZERO(&server_set);
  CPU_SET(server_cpu, &server_set);
  cpu_set_t client_set = allowed;
  CPU_CLR(server_cpu, &client_set);
  // Every thread of the server: its main thread and its background threads.
  const auto tasks = fmt::format("/proc/{}/task", private_server_->pid());
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    const pid_t thread_id = std::atoi(task.path().filename().c_str());
    if (::sched_setaffinity(thread_id, sizeof(server_set), &server_set) != 0) {
      return fmt::format("not pinned (redis-server: {})", std::strerror(errno));
    }
  }
  if (::sched_setaffinity(0, sizeof(client_set), &client_set) != 0) {
    return fmt::format("not pinned (client: {})", std::strerror(errno));
  }
  return fmt::format("redis-server on CPU {}, client on the other {} CPU(s)", server_cpu,
                     CPU_COUNT(&client_set));
}

}  // namespace bench
