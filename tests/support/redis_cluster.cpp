#include "redis_cluster.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "transport/slot_map.hpp"

namespace flashsale::testing {

namespace {

using namespace std::chrono_literals;

Reply admin_command(RedisServer& server, std::vector<std::string> arguments) {
  return server.admin().execute(Command{std::move(arguments), {}, {}});
}

std::vector<detail::SlotRange> sorted_slots(RedisServer& server) {
  auto ranges = detail::parse_cluster_slots(admin_command(server, {"CLUSTER", "SLOTS"}), "");
  std::sort(ranges.begin(), ranges.end(),
            [](const auto& left, const auto& right) { return left.first < right.first; });
  return ranges;
}

bool same_ranges(const std::vector<detail::SlotRange>& left,
                 const std::vector<detail::SlotRange>& right) {
  return std::equal(
      left.begin(), left.end(), right.begin(), right.end(), [](const auto& a, const auto& b) {
        return a.first == b.first && a.last == b.last && a.master.port == b.master.port;
      });
}

}  // namespace

RedisCluster::RedisCluster(RedisClusterOptions options) : options_(std::move(options)) {
  if (options_.masters == 0) {
    throw std::invalid_argument("a cluster needs at least one master");
  }
  const std::size_t masters = options_.masters;
  const std::size_t total = masters * (1 + options_.replicas_per_master);
  for (std::size_t index = 0; index < total; ++index) {
    constexpr int kAttempts = 5;
    for (int attempt = 1;; ++attempt) {
      // The default bus port (port + 10000) can exceed 65535 for the
      // ephemeral ports the servers get.
      const int bus_port = free_loopback_port();
      RedisServerOptions server_options;
      server_options.config_lines = {
          "cluster-enabled yes",
          "cluster-config-file nodes.conf",
          "cluster-node-timeout " + std::to_string(options_.node_timeout.count()),
          "cluster-port " + std::to_string(bus_port),
      };
      server_options.config_lines.insert(server_options.config_lines.end(),
                                         options_.config_lines.begin(),
                                         options_.config_lines.end());
      try {
        nodes_.push_back(std::make_unique<RedisServer>(server_options));
        bus_ports_.push_back(bus_port);
        break;
      } catch (const std::runtime_error&) {
        if (attempt == kAttempts) {
          throw;  // the bus port was taken each time
        }
      }
    }
    node_ids_.push_back(admin_command(*nodes_.back(), {"CLUSTER", "MYID"}).as_string());
  }

  const std::size_t count = masters;
  for (std::size_t index = 0; index < total; ++index) {
    RedisServer& server = *nodes_[index];
    admin_command(server, {"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(index + 1)});
  }
  for (std::size_t index = 0; index < count; ++index) {
    RedisServer& server = *nodes_[index];
    // Distinct epochs were set up front, as redis-cli --cluster create does,
    // so no collision has to be resolved before the cluster agrees.
    std::vector<std::string> add_slots{"CLUSTER", "ADDSLOTS"};  // ADDSLOTSRANGE is 7.0+
    const std::size_t first = index * kClusterSlotCount / count;
    const std::size_t last = (index + 1) * kClusterSlotCount / count;
    for (std::size_t slot = first; slot < last; ++slot) {
      add_slots.push_back(std::to_string(slot));
    }
    admin_command(server, std::move(add_slots));
  }
  for (std::size_t index = 1; index < total; ++index) {
    admin_command(*nodes_[0],
                  {"CLUSTER", "MEET", "127.0.0.1", std::to_string(nodes_[index]->port()),
                   std::to_string(bus_ports_[index])});
  }
  if (total > masters) {
    // Every node must know its master before it can replicate it.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (std::size_t index = masters; index < total; ++index) {
      for (;;) {
        try {
          admin_command(*nodes_[index], {"CLUSTER", "REPLICATE", node_ids_[index % masters]});
          break;
        } catch (const ReplyError&) {
          if (std::chrono::steady_clock::now() > deadline) {
            throw;  // "Unknown node" for a minute: the nodes never met
          }
          std::this_thread::sleep_for(50ms);
        }
      }
    }
  }
  wait_until_healthy();
}

RedisCluster::~RedisCluster() = default;

std::vector<std::string> RedisCluster::seeds() const {
  std::vector<std::string> seeds;
  for (const auto& node : nodes_) {
    seeds.push_back(node->address());
  }
  return seeds;
}

ClusterClientOptions RedisCluster::client_options(std::size_t pool_size) const {
  ClusterClientOptions options;
  options.seeds = seeds();
  options.connection.command_timeout = 10s;
  options.pool.size = pool_size;
  options.pool.wait_timeout = 30s;
  options.retry_budget = 20s;
  return options;
}

std::unique_ptr<ClusterClient> RedisCluster::make_client(std::size_t pool_size) const {
  return std::make_unique<ClusterClient>(client_options(pool_size));
}

std::size_t RedisCluster::index_of_port(int port) const {
  for (std::size_t index = 0; index < nodes_.size(); ++index) {
    if (nodes_[index]->port() == port) {
      return index;
    }
  }
  throw std::runtime_error("no node of this cluster listens on port " + std::to_string(port));
}

std::size_t RedisCluster::master_of_slot(std::uint16_t slot) {
  for (const auto& range : sorted_slots(*nodes_[0])) {
    if (range.first <= slot && slot <= range.last) {
      return index_of_port(range.master.port);
    }
  }
  throw std::runtime_error("slot " + std::to_string(slot) + " is not served");
}

std::string RedisCluster::tag_on_node(std::size_t index, std::string_view stem) {
  const auto ranges = sorted_slots(*nodes_[0]);
  const int port = nodes_.at(index)->port();
  for (int suffix = 0; suffix < 100000; ++suffix) {
    std::string tag = std::string(stem) + "-" + std::to_string(suffix);
    const std::uint16_t slot = hash_slot(tag);
    for (const auto& range : ranges) {
      if (range.first <= slot && slot <= range.last && range.master.port == port) {
        return tag;
      }
    }
  }
  throw std::runtime_error("node " + std::to_string(index) + " serves no slot");
}

void RedisCluster::begin_migration(std::uint16_t slot, std::size_t from, std::size_t to) {
  const std::string slot_text = std::to_string(slot);
  admin_command(node(to), {"CLUSTER", "SETSLOT", slot_text, "IMPORTING", node_id(from)});
  admin_command(node(from), {"CLUSTER", "SETSLOT", slot_text, "MIGRATING", node_id(to)});
}

std::size_t RedisCluster::move_keys(std::uint16_t slot, std::size_t from, std::size_t to,
                                    std::size_t batch_size) {
  const Reply keys = admin_command(
      node(from), {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(batch_size)});
  if (keys.as_array().empty()) {
    return 0;
  }
  std::vector<std::string> migrate{"MIGRATE", "127.0.0.1", std::to_string(node(to).port()), "", "0",
                                   "10000",   "KEYS"};
  for (const auto& key : keys.as_array()) {
    migrate.push_back(key.as_string());
  }
  admin_command(node(from), std::move(migrate));
  return keys.as_array().size();
}

void RedisCluster::finish_migration(std::uint16_t slot, std::size_t from, std::size_t to) {
  // The target first, then the source, as the cluster specification advises:
  // the slot is never left without an owner that accepts it.
  std::vector<std::size_t> order{to, from};
  for (std::size_t index = 0; index < nodes_.size(); ++index) {
    if (index != to && index != from) {
      order.push_back(index);
    }
  }
  for (const auto index : order) {
    admin_command(node(index), {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", node_id(to)});
  }
}

void RedisCluster::migrate_slot(std::uint16_t slot, std::size_t to, std::size_t batch_size,
                                const std::function<void()>& between_batches) {
  const std::size_t from = master_of_slot(slot);
  if (from == to) {
    return;
  }
  begin_migration(slot, from, to);
  while (move_keys(slot, from, to, batch_size) > 0) {
    if (between_batches) {
      between_batches();
    }
  }
  finish_migration(slot, from, to);
}

void RedisCluster::restart_node(std::size_t index) {
  node(index).restart();
  wait_until_healthy();
}

void RedisCluster::wait_until_healthy(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string last_problem;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      bool healthy = true;
      std::vector<detail::SlotRange> reference;
      for (std::size_t index = 0; index < nodes_.size() && healthy; ++index) {
        const std::string info = admin_command(*nodes_[index], {"CLUSTER", "INFO"}).as_string();
        if (info_field(info, "cluster_state") != "ok" ||
            info_field(info, "cluster_known_nodes") != std::to_string(nodes_.size()) ||
            info_field(info, "cluster_slots_assigned") != std::to_string(kClusterSlotCount)) {
          last_problem = "node " + std::to_string(index) + ": " + info.substr(0, 200);
          healthy = false;
          break;
        }
        auto ranges = sorted_slots(*nodes_[index]);
        if (index == 0) {
          reference = std::move(ranges);
        } else if (!same_ranges(reference, ranges)) {
          last_problem = "node " + std::to_string(index) + " has another slot map";
          healthy = false;
        }
      }
      for (std::size_t index = options_.masters; index < nodes_.size() && healthy; ++index) {
        const std::string info = admin_command(*nodes_[index], {"INFO", "replication"}).as_string();
        if (info_field(info, "role") == "slave" && info_field(info, "master_link_status") != "up") {
          last_problem = "replica " + std::to_string(index) + " has no link to its master yet";
          healthy = false;
        }
      }
      // A replica whose link is up may still get nothing for up to a second
      // after a diskless sync (see replicas_that_received): each master's
      // replicas must receive a write made now (in cluster mode PUBLISH is
      // not replicated: a key of the master's slots, set and deleted).
      for (std::size_t index = 0; index < reference.size() && healthy; ++index) {
        const std::size_t master = index_of_port(reference[index].master.port);
        const std::string replicas =
            info_field(admin_command(*nodes_[master], {"INFO", "replication"}).as_string(),
                       "connected_slaves");
        if (replicas.empty() || replicas == "0") {
          continue;
        }
        const std::string key = "{" + tag_on_node(master, "flashsale-test-probe") + "}";
        if (replicas_that_received(nodes_[master]->admin(),
                                   {{{"SET", key, "1"}, key, {}}, {{"DEL", key}, key, {}}},
                                   std::stoul(replicas)) < std::stoll(replicas)) {
          last_problem =
              "a write on node " + std::to_string(master) + " has not reached its replicas";
          healthy = false;
        }
      }
      if (healthy) {
        return;
      }
    } catch (const Error& error) {
      last_problem = error.what();
    }
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("the cluster did not become healthy: " + last_problem);
}

std::size_t RedisCluster::wait_for_failover(std::size_t failed, std::uint16_t slot,
                                            std::chrono::milliseconds limit) {
  const int failed_port = nodes_.at(failed)->port();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string last_problem;
  while (std::chrono::steady_clock::now() < deadline) {
    for (std::size_t index = 0; index < nodes_.size(); ++index) {
      if (index == failed || !nodes_[index]->running()) {
        continue;
      }
      try {
        const std::string info = admin_command(*nodes_[index], {"CLUSTER", "INFO"}).as_string();
        const auto ranges = sorted_slots(*nodes_[index]);
        const bool moved = std::none_of(ranges.begin(), ranges.end(), [&](const auto& range) {
          return range.master.port == failed_port;
        });
        if (info_field(info, "cluster_state") == "ok" && moved) {
          for (const auto& range : ranges) {
            if (range.first <= slot && slot <= range.last) {
              return index_of_port(range.master.port);
            }
          }
        }
        last_problem = "node " + std::to_string(index) + " still maps slots to the failed node";
      } catch (const Error& error) {
        last_problem = error.what();
      }
      break;  // one live node's view is enough
    }
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("no failover away from node " + std::to_string(failed) + ": " +
                           last_problem);
}

}  // namespace flashsale::testing
