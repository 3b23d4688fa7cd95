#include "redis_sentinel.hpp"

#include <stdexcept>
#include <thread>

#include "flashsale/error.hpp"

namespace flashsale::testing {

namespace {

using namespace std::chrono_literals;

std::string field_of(const Reply& flat, const std::string& name) {
  const auto& items = flat.as_array();
  for (std::size_t index = 0; index + 1 < items.size(); index += 2) {
    if (items[index].as_string() == name) {
      return items[index + 1].as_string();
    }
  }
  return {};
}

}  // namespace

RedisSentinelGroup::RedisSentinelGroup(RedisSentinelOptions options)
    : options_(std::move(options)) {
  RedisServerOptions master_options;
  master_options.config_lines = options_.config_lines;
  nodes_.push_back(std::make_unique<RedisServer>(master_options));
  const std::string master_port = std::to_string(nodes_.front()->port());
  for (std::size_t index = 0; index < options_.replicas; ++index) {
    RedisServerOptions replica_options;
    replica_options.config_lines = options_.config_lines;
    replica_options.config_lines.push_back("replicaof 127.0.0.1 " + master_port);
    nodes_.push_back(std::make_unique<RedisServer>(replica_options));
  }
  const std::string& service = options_.service;
  for (std::size_t index = 0; index < options_.sentinels; ++index) {
    RedisServerOptions sentinel_options;
    sentinel_options.arguments = {"--sentinel"};
    sentinel_options.password = options_.sentinel_password;
    sentinel_options.config_lines = {
        "sentinel monitor " + service + " 127.0.0.1 " + master_port + " " +
            std::to_string(options_.sentinels / 2 + 1),
        "sentinel down-after-milliseconds " + service + " " +
            std::to_string(options_.down_after.count()),
        "sentinel failover-timeout " + service + " " +
            std::to_string(options_.failover_timeout.count()),
        "sentinel parallel-syncs " + service + " 1",
    };
    if (!options_.sentinel_password.empty()) {
      sentinel_options.config_lines.push_back("requirepass " + options_.sentinel_password);
    }
    sentinels_.push_back(std::make_unique<RedisServer>(sentinel_options));
  }
  wait_until_stable();
}

RedisSentinelGroup::~RedisSentinelGroup() {
  // Sentinels first, so none starts a failover while the data nodes stop.
  sentinels_.clear();
  nodes_.clear();
}

std::vector<std::string> RedisSentinelGroup::sentinel_addresses() const {
  std::vector<std::string> addresses;
  for (const auto& sentinel : sentinels_) {
    addresses.push_back(sentinel->address());
  }
  return addresses;
}

SentinelClientOptions RedisSentinelGroup::client_options(std::size_t pool_size) const {
  SentinelClientOptions options;
  options.sentinels = sentinel_addresses();
  options.service = options_.service;
  options.sentinel_connection.password = options_.sentinel_password;
  options.connection.command_timeout = 5s;
  options.pool.size = pool_size;
  options.pool.wait_timeout = 30s;
  options.retry_budget = 30s;
  return options;
}

std::unique_ptr<SentinelClient> RedisSentinelGroup::make_client(std::size_t pool_size) const {
  return std::make_unique<SentinelClient>(client_options(pool_size));
}

Reply RedisSentinelGroup::ask_sentinel(std::size_t index, std::vector<std::string> arguments) {
  return sentinel(index).admin().execute(Command{std::move(arguments), {}, {}});
}

std::size_t RedisSentinelGroup::index_of_port(int port) const {
  for (std::size_t index = 0; index < nodes_.size(); ++index) {
    if (nodes_[index]->port() == port) {
      return index;
    }
  }
  throw std::runtime_error("no data node listens on port " + std::to_string(port));
}

std::size_t RedisSentinelGroup::master_index() {
  std::string failures;
  for (std::size_t index = 0; index < sentinels_.size(); ++index) {
    try {
      const Reply reply =
          ask_sentinel(index, {"SENTINEL", "get-master-addr-by-name", options_.service});
      return index_of_port(static_cast<int>(reply.as_array().at(1).as_integer()));
    } catch (const Error& error) {
      failures += std::string("; ") + error.what();
    }
  }
  throw std::runtime_error("no sentinel names a master" + failures);
}

std::size_t RedisSentinelGroup::wait_for_failover(std::size_t old_master,
                                                  std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string last_problem;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      std::size_t agreed = old_master;
      bool all = true;
      for (std::size_t index = 0; index < sentinels_.size() && all; ++index) {
        const Reply reply =
            ask_sentinel(index, {"SENTINEL", "get-master-addr-by-name", options_.service});
        const std::size_t named =
            index_of_port(static_cast<int>(reply.as_array().at(1).as_integer()));
        all = named != old_master && (index == 0 || named == agreed);
        agreed = named;
      }
      if (all) {
        ConnectionOptions probe = nodes_[agreed]->connection_options();
        probe.connect_timeout = 200ms;
        StandaloneClient client(probe, PoolOptions{1, 200ms});
        const Reply role = client.execute({{"ROLE"}, {}, {}});
        if (role.as_array().at(0).as_string() == "master") {
          return agreed;
        }
        last_problem = "the named master does not say ROLE master yet";
      } else {
        last_problem = "the sentinels still name the old master or disagree";
      }
    } catch (const std::exception& error) {
      last_problem = error.what();
    }
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("no failover away from node " + std::to_string(old_master) + ": " +
                           last_problem);
}

void RedisSentinelGroup::wait_until_stable(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string last_problem;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      bool stable = true;
      std::size_t master = 0;
      for (std::size_t index = 0; index < sentinels_.size() && stable; ++index) {
        const Reply state = ask_sentinel(index, {"SENTINEL", "MASTER", options_.service});
        const std::size_t named = index_of_port(std::stoi(field_of(state, "port")));
        const std::string flags = field_of(state, "flags");
        stable = (index == 0 || named == master) && flags == "master" &&
                 field_of(state, "num-slaves") == std::to_string(options_.replicas) &&
                 field_of(state, "num-other-sentinels") == std::to_string(sentinels_.size() - 1);
        master = named;
        if (!stable) {
          last_problem = "sentinel " + std::to_string(index) + ": flags " + flags + ", replicas " +
                         field_of(state, "num-slaves") + ", other sentinels " +
                         field_of(state, "num-other-sentinels");
        }
      }
      if (stable) {
        const std::string info =
            nodes_[master]->admin().execute({{"INFO", "replication"}, {}, {}}).as_string();
        // Online is not enough: after a diskless sync the master streams
        // nothing to a replica until its first REPLCONF ACK (up to 1 s), so
        // a kill then leaves the replica without the latest writes. Every
        // replica must have acknowledged the master's offset, and even
        // that can mislead: the replica's first ACK, sent as it finishes
        // loading, may reach the master before the master has reaped the
        // transfer's child and put the replica online; then INFO shows it
        // online at the master's offset while the master waits for its next
        // ACK (the replica's once-a-second cron) to start streaming. A kill
        // in that second left a promoted replica with none of the sale. So
        // a write is made and WAITed for below.
        const std::string offset = "offset=" + info_field(info, "master_repl_offset") + ",";
        std::size_t caught_up = 0;
        for (std::size_t replica = 0; replica < options_.replicas; ++replica) {
          const std::string line = info_field(info, "slave" + std::to_string(replica));
          caught_up += line.find("state=online") != std::string::npos &&
                               line.find(offset) != std::string::npos
                           ? 1
                           : 0;
        }
        if (info_field(info, "connected_slaves") == std::to_string(options_.replicas) &&
            caught_up == options_.replicas) {
          // PUBLISH is replicated outside a cluster and touches no key.
          if (replicas_that_received(nodes_[master]->admin(),
                                     {{{"PUBLISH", "flashsale-test-stable-probe", "1"}, {}, {}}},
                                     options_.replicas) >=
              static_cast<long long>(options_.replicas)) {
            return;
          }
          last_problem = "a write on the master has not reached every replica";
        } else {
          last_problem = "the master has not every replica online and caught up";
        }
      }
    } catch (const std::exception& error) {
      last_problem = error.what();
    }
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("the sentinel deployment did not settle: " + last_problem);
}

long long RedisSentinelGroup::failovers() {
  return std::stoll(
      field_of(ask_sentinel(0, {"SENTINEL", "MASTER", options_.service}), "config-epoch"));
}

}  // namespace flashsale::testing
