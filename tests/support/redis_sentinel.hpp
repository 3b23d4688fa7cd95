// A private Sentinel deployment for one test: one master, `replicas`
// replicas and `sentinels` real `redis-server --sentinel` processes, each on
// a free loopback port in its own temporary directory, with short
// down-after-milliseconds and failover-timeout so a failover takes seconds.
// Always torn down by the destructor.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "flashsale/sentinel_client.hpp"
#include "redis_server.hpp"

namespace flashsale::testing {

struct RedisSentinelOptions {
  std::string service = "flashsale";
  std::size_t replicas = 1;
  std::size_t sentinels = 3;  // quorum: a majority
  // Extra redis.conf lines of every data node, e.g. "appendonly yes".
  std::vector<std::string> config_lines;
  std::chrono::milliseconds down_after{1000};
  std::chrono::milliseconds failover_timeout{3000};
  // requirepass of the sentinels; empty: none.
  std::string sentinel_password;
};

// Not thread-safe; owned by the test's main thread. Its methods use their
// own short-lived connections, so they may run while client threads work.
class RedisSentinelGroup {
 public:
  explicit RedisSentinelGroup(RedisSentinelOptions options = {});
  ~RedisSentinelGroup();
  RedisSentinelGroup(const RedisSentinelGroup&) = delete;
  RedisSentinelGroup& operator=(const RedisSentinelGroup&) = delete;

  // Data node `index`: 0 is the first master, 1.. the first replicas.
  RedisServer& node(std::size_t index) { return *nodes_.at(index); }
  std::size_t node_count() const noexcept { return nodes_.size(); }
  RedisServer& sentinel(std::size_t index) { return *sentinels_.at(index); }
  // "127.0.0.1:<port>" of every sentinel.
  std::vector<std::string> sentinel_addresses() const;

  // Options for a SentinelClient (command timeout 5 s, pool wait 30 s, retry
  // budget 30 s); tests adjust them before constructing.
  SentinelClientOptions client_options(std::size_t pool_size = 8) const;
  std::unique_ptr<SentinelClient> make_client(std::size_t pool_size = 8) const;

  // The data node the first answering sentinel names master now.
  std::size_t master_index();
  // Waits until every sentinel names a master other than node `old_master`
  // and that node says ROLE master; returns its index. Throws
  // std::runtime_error after `limit`.
  std::size_t wait_for_failover(std::size_t old_master,
                                std::chrono::milliseconds limit = std::chrono::seconds(60));
  // Waits until the sentinels agree on one master that has `replicas` online
  // replicas that acknowledged its replication offset and received a write
  // made on it now (WAIT), and every sentinel knows the others.
  void wait_until_stable(std::chrono::milliseconds limit = std::chrono::seconds(60));
  // The master's config-epoch by sentinel 0: how many failovers the
  // sentinels have carried out (0 before the first).
  long long failovers();

 private:
  Reply ask_sentinel(std::size_t index, std::vector<std::string> arguments);
  std::size_t index_of_port(int port) const;

  RedisSentinelOptions options_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

}  // namespace flashsale::testing
