// A private Redis Cluster for one test: N masters (optionally with replicas), each a
// RedisServer on a free loopback port with its own cluster bus port, slots
// split evenly, nodes met, and cluster_state:ok with one consistent slot map
// awaited on every node. Always torn down by the destructor. Needs
// redis-server 7.0+ (cluster-port).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flashsale/cluster_client.hpp"
#include "redis_server.hpp"

namespace flashsale::testing {

struct RedisClusterOptions {
  std::size_t masters = 3;
  // Extra redis.conf lines for every node, e.g. "appendonly yes".
  std::vector<std::string> config_lines;
  // cluster-node-timeout: how long a node may be unreachable before the
  // others mark it failed (and, with no replica, the cluster goes down).
  std::chrono::milliseconds node_timeout{2000};
  // Replicas of every master (0 or more). Master i is node i; its replicas
  // are nodes masters + i, 2 * masters + i, ... A master that fails is then
  // replaced by its replica after about node_timeout.
  std::size_t replicas_per_master = 0;
};

// Not thread-safe; owned by the test's main thread. Its methods talk to the
// nodes over their admin() clients, so they may run while client threads
// load the cluster.
class RedisCluster {
 public:
  explicit RedisCluster(RedisClusterOptions options = {});
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // Every node, masters and replicas.
  std::size_t size() const noexcept { return nodes_.size(); }
  RedisServer& node(std::size_t index) { return *nodes_.at(index); }
  const std::string& node_id(std::size_t index) const { return node_ids_.at(index); }
  // "127.0.0.1:<port>" of every node.
  std::vector<std::string> seeds() const;

  // Options for a ClusterClient of this cluster (command timeout 10 s, pool
  // wait 30 s, retry budget 20 s); tests adjust them before constructing.
  ClusterClientOptions client_options(std::size_t pool_size = 8) const;
  std::unique_ptr<ClusterClient> make_client(std::size_t pool_size = 8) const;

  // The index of the master serving `slot`, by CLUSTER SLOTS of node 0.
  std::size_t master_of_slot(std::uint16_t slot);
  // A hash tag (without braces) starting with `stem` whose slot master
  // `index` serves now, e.g. tag_on_node(1, "coupon") -> "coupon-7".
  std::string tag_on_node(std::size_t index, std::string_view stem);

  // Moves `slot` to master `to` the way redis-cli --cluster reshard does:
  // SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE of the
  // keys in batches of `batch_size`, then SETSLOT NODE on the target, the
  // source and the other masters. `between_batches` runs after each batch
  // (tests use it to let load hit the half-migrated slot).
  void migrate_slot(std::uint16_t slot, std::size_t to, std::size_t batch_size = 10,
                    const std::function<void()>& between_batches = {});
  // The steps of migrate_slot one by one, for tests that need the slot to
  // stay half-migrated. move_keys returns how many keys it moved (0: none left).
  void begin_migration(std::uint16_t slot, std::size_t from, std::size_t to);
  std::size_t move_keys(std::uint16_t slot, std::size_t from, std::size_t to,
                        std::size_t batch_size);
  void finish_migration(std::uint16_t slot, std::size_t from, std::size_t to);

  // Restarts node `index` on its port with its nodes.conf (same id and
  // slots; its data survives only with "appendonly yes"), then waits until
  // the cluster is healthy again.
  void restart_node(std::size_t index);
  // Waits until every node reports cluster_state:ok, knows every node and
  // returns the same CLUSTER SLOTS, every replica's link to its master is
  // up, and a write on each master reached its connected replicas (WAIT);
  // throws std::runtime_error after `limit`.
  void wait_until_healthy(std::chrono::milliseconds limit = std::chrono::seconds(60));
  // After node `failed` was killed: waits until another node serves every
  // slot it served and the cluster is ok again (seen from a live node);
  // returns the index of the node that now serves `slot`.
  std::size_t wait_for_failover(std::size_t failed, std::uint16_t slot,
                                std::chrono::milliseconds limit = std::chrono::seconds(60));

 private:
  std::size_t index_of_port(int port) const;

  RedisClusterOptions options_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::string> node_ids_;
  std::vector<int> bus_ports_;
};

}  // namespace flashsale::testing
