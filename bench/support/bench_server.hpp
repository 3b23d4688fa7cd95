// The Redis server a benchmark measures against: FLASHSALE_BENCH_REDIS=host:port
// when set, else a private redis-server on a free loopback port.
#pragma once

#include <memory>
#include <string>

#include "flashsale/connection_options.hpp"
#include "flashsale/standalone_client.hpp"

namespace flashsale::testing {
class RedisServer;
}

namespace bench {

// Not thread-safe; one per benchmark program.
class BenchServer {
 public:
  BenchServer();
  ~BenchServer();

  const std::string& host() const noexcept { return host_; }
  int port() const noexcept { return port_; }
  flashsale::ConnectionOptions connection_options() const;
  std::unique_ptr<flashsale::StandaloneClient> make_client(
      std::size_t pool_size, std::size_t shared_connections = 0) const;
  // Deletes every key (FLUSHALL), so rounds start equal.
  void flush();
  // Gives the private redis-server the first CPU this process may use and
  // this process (and every thread and child it starts later) the others,
  // so the server never waits behind its own clients. Returns what was done,
  // for the report; pins nothing (and says why) when fewer than 2 CPUs are
  // available, the server is external or the system refuses.
  std::string separate_server_and_client_cpus();

 private:
  std::unique_ptr<flashsale::testing::RedisServer> private_server_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
};

}  // namespace bench
