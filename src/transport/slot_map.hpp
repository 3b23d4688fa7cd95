// The cluster topology as the cluster client sees it: node addresses, the
// parsing of CLUSTER SLOTS and of MOVED/ASK redirects, and the thread-safe
// slot -> master table with one connection pool per node. Private to the
// transport layer.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "flashsale/connection_options.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/reply.hpp"
#include "transport/connection_pool.hpp"

// FLASHSALE_EXPORT: exported for the unit tests, not part of the API (this
// header is not installed).
namespace flashsale::detail {

struct FLASHSALE_EXPORT NodeAddress {
  std::string host;
  int port = 0;

  std::string text() const;  // "host:port" ("[v6]:port" for IPv6 hosts)
  friend bool operator==(const NodeAddress& left, const NodeAddress& right) {
    return left.port == right.port && left.host == right.host;
  }
  friend bool operator<(const NodeAddress& left, const NodeAddress& right) {
    return left.host != right.host ? left.host < right.host : left.port < right.port;
  }
};

// Parses "host:port" or "[v6]:port"; InvalidArgument for anything else.
FLASHSALE_EXPORT NodeAddress parse_node_address(std::string_view text);

struct SlotRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;  // inclusive
  NodeAddress master;
};

// Parses a CLUSTER SLOTS reply. A master announced without a usable host
// (empty or "?": the node does not know its own address) is reached at
// `replying_host`, the host that answered. ProtocolError on a malformed reply.
FLASHSALE_EXPORT std::vector<SlotRange> parse_cluster_slots(const Reply& reply,
                                                            std::string_view replying_host);

struct Redirect {
  enum class Kind { Moved, Ask };
  Kind kind = Kind::Moved;
  std::uint16_t slot = 0;
  NodeAddress target;
};

// The redirect an error reply carries ("MOVED 3999 127.0.0.1:7002", "ASK ..."),
// or nullopt. A target without a host (":7002") is at `replying_host`.
FLASHSALE_EXPORT std::optional<Redirect> parse_redirect(const Reply& reply,
                                                        std::string_view replying_host);

// TRYAGAIN, CLUSTERDOWN, LOADING or MASTERDOWN: the server refused to run the
// command for now (so it did not run), and the same command may succeed later.
FLASHSALE_EXPORT bool is_transient_cluster_error(const Reply& reply);

// One master and its pool.
struct ClusterNode {
  ClusterNode(NodeAddress node_address, const ConnectionOptions& connection_template,
              const PoolOptions& pool_options);

  const NodeAddress address;
  ConnectionPool pool;
};

// Thread-safe. Slots map to nodes; nodes are created on first mention and
// shared (callers keep a node alive while they use it, even when a refresh
// drops it from the table).
class SlotMap {
 public:
  SlotMap(ConnectionOptions connection_template, PoolOptions pool_options);

  // The master serving `slot`, or nullptr when none is known.
  std::shared_ptr<ClusterNode> node_for_slot(std::uint16_t slot) const;
  // Masters in turn, or nullptr when none is known.
  std::shared_ptr<ClusterNode> any_node();
  // The node at `address`, created when not known yet.
  std::shared_ptr<ClusterNode> node(const NodeAddress& address);
  bool knows(const NodeAddress& address) const;
  // Every master that serves a slot.
  std::vector<std::shared_ptr<ClusterNode>> masters() const;

  // After MOVED: `slot` is served by `node` from now on.
  void assign(std::uint16_t slot, const std::shared_ptr<ClusterNode>& node);
  // After CLUSTER SLOTS: the whole table; slots no range covers map to nothing.
  void replace(const std::vector<SlotRange>& ranges);
  // Counts the completed replace() calls; 0 means never loaded.
  std::uint64_t generation() const noexcept { return generation_.load(); }

 private:
  std::shared_ptr<ClusterNode> node_locked(const NodeAddress& address);

  const ConnectionOptions connection_template_;
  const PoolOptions pool_options_;
  mutable std::shared_mutex mutex_;
  std::array<std::shared_ptr<ClusterNode>, kClusterSlotCount> slots_;
  std::map<NodeAddress, std::shared_ptr<ClusterNode>> nodes_;
  std::vector<std::shared_ptr<ClusterNode>> masters_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> next_any_{0};
};

}  // namespace flashsale::detail
