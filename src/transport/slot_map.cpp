#include "transport/slot_map.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale::detail {

namespace {

// A decimal number of at most five digits (ports and slots).
std::optional<int> parse_small_number(std::string_view text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != text.npos) {
    return std::nullopt;
  }
  return std::atoi(std::string(text).c_str());
}

// "host:port", "[v6]:port" or ":port"; an empty host stays empty.
std::optional<NodeAddress> split_address(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const auto port = parse_small_number(text.substr(colon + 1));
  if (!port || *port < 1 || *port > 65535) {
    return std::nullopt;
  }
  return NodeAddress{std::string(host), *port};
}

std::uint16_t to_slot(long long value) {
  if (value < 0 || value >= kClusterSlotCount) {
    throw ProtocolError(fmt::format("slot number {} out of range", value));
  }
  return static_cast<std::uint16_t>(value);
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::string NodeAddress::text() const {
  return host.find(':') == std::string::npos ? fmt::format("{}:{}", host, port)
                                             : fmt::format("[{}]:{}", host, port);
}

NodeAddress parse_node_address(std::string_view text) {
  auto address = split_address(text);
  if (!address || address->host.empty()) {
    throw InvalidArgument(fmt::format("'{}' is not a host:port node address", text));
  }
  return *address;
}

std::vector<SlotRange> parse_cluster_slots(const Reply& reply, std::string_view replying_host) {
  std::vector<SlotRange> ranges;
  for (const auto& entry : reply.as_array()) {
    const auto& fields = entry.as_array();
    if (fields.size() < 3) {
      throw ProtocolError("CLUSTER SLOTS entry without a master: " + entry.describe());
    }
    const auto& master = fields[2].as_array();
    if (master.size() < 2) {
      throw ProtocolError("CLUSTER SLOTS master without host and port: " + entry.describe());
    }
    SlotRange range;
    range.first = to_slot(fields[0].as_integer());
    range.last = to_slot(fields[1].as_integer());
    range.master.host = master[0].as_string();
    if (range.master.host.empty() || range.master.host == "?") {
      range.master.host = std::string(replying_host);
    }
    const long long port = master[1].as_integer();
    if (port < 1 || port > 65535) {
      throw ProtocolError("CLUSTER SLOTS master with a bad port: " + entry.describe());
    }
    range.master.port = static_cast<int>(port);
    if (range.first > range.last) {
      throw ProtocolError("CLUSTER SLOTS range ends before it starts: " + entry.describe());
    }
    ranges.push_back(std::move(range));
  }
  return ranges;
}

std::optional<Redirect> parse_redirect(const Reply& reply, std::string_view replying_host) {
  if (!reply.is_error()) {
    return std::nullopt;
  }
  const std::string& message = reply.error_message();
  Redirect redirect;
  std::size_t at = 0;
  if (starts_with(message, "MOVED ")) {
    redirect.kind = Redirect::Kind::Moved;
    at = 6;
  } else if (starts_with(message, "ASK ")) {
    redirect.kind = Redirect::Kind::Ask;
    at = 4;
  } else {
    return std::nullopt;
  }
  const auto space = message.find(' ', at);
  if (space == std::string::npos) {
    throw ProtocolError("malformed redirect: " + message);
  }
  const auto slot = parse_small_number(std::string_view(message).substr(at, space - at));
  auto target = split_address(std::string_view(message).substr(space + 1));
  if (!slot || *slot >= kClusterSlotCount || !target) {
    throw ProtocolError("malformed redirect: " + message);
  }
  redirect.slot = static_cast<std::uint16_t>(*slot);
  if (target->host.empty() || target->host == "?") {
    target->host = std::string(replying_host);
  }
  redirect.target = std::move(*target);
  return redirect;
}

bool is_transient_cluster_error(const Reply& reply) {
  if (!reply.is_error()) {
    return false;
  }
  const std::string& message = reply.error_message();
  return starts_with(message, "TRYAGAIN") || starts_with(message, "CLUSTERDOWN") ||
         starts_with(message, "LOADING") || starts_with(message, "MASTERDOWN");
}

ClusterNode::ClusterNode(NodeAddress node_address, const ConnectionOptions& connection_template,
                         const PoolOptions& pool_options)
    : address(std::move(node_address)),
      pool(
          [&] {
            ConnectionOptions options = connection_template;
            options.host = address.host;
            options.port = address.port;
            return options;
          }(),
          pool_options) {}

SlotMap::SlotMap(ConnectionOptions connection_template, PoolOptions pool_options)
    : connection_template_(std::move(connection_template)), pool_options_(pool_options) {}

std::shared_ptr<ClusterNode> SlotMap::node_for_slot(std::uint16_t slot) const {
  const std::shared_lock<std::shared_mutex> lock(mutex_);
  return slots_[slot];
}

std::shared_ptr<ClusterNode> SlotMap::any_node() {
  const std::shared_lock<std::shared_mutex> lock(mutex_);
  if (masters_.empty()) {
    return nullptr;
  }
  return masters_[next_any_.fetch_add(1) % masters_.size()];
}

std::shared_ptr<ClusterNode> SlotMap::node(const NodeAddress& address) {
  {
    const std::shared_lock<std::shared_mutex> lock(mutex_);
    const auto found = nodes_.find(address);
    if (found != nodes_.end()) {
      return found->second;
    }
  }
  const std::unique_lock<std::shared_mutex> lock(mutex_);
  return node_locked(address);
}

bool SlotMap::knows(const NodeAddress& address) const {
  const std::shared_lock<std::shared_mutex> lock(mutex_);
  return nodes_.count(address) != 0;
}

std::vector<std::shared_ptr<ClusterNode>> SlotMap::masters() const {
  const std::shared_lock<std::shared_mutex> lock(mutex_);
  return masters_;
}

void SlotMap::assign(std::uint16_t slot, const std::shared_ptr<ClusterNode>& node) {
  const std::unique_lock<std::shared_mutex> lock(mutex_);
  slots_[slot] = node;
  if (std::find(masters_.begin(), masters_.end(), node) == masters_.end()) {
    masters_.push_back(node);
  }
}

void SlotMap::replace(const std::vector<SlotRange>& ranges) {
  const std::unique_lock<std::shared_mutex> lock(mutex_);
  std::map<NodeAddress, std::shared_ptr<ClusterNode>> serving;
  slots_.fill(nullptr);
  for (const auto& range : ranges) {
    auto node = node_locked(range.master);
    serving.emplace(range.master, node);
    for (std::uint32_t slot = range.first; slot <= range.last; ++slot) {
      slots_[slot] = node;
    }
  }
  // Nodes that serve nothing any more are forgotten (with their idle
  // connections); a caller still using one keeps it alive until it is done.
  nodes_ = serving;
  masters_.clear();
  for (const auto& entry : serving) {
    masters_.push_back(entry.second);
  }
  generation_.fetch_add(1);
}

std::shared_ptr<ClusterNode> SlotMap::node_locked(const NodeAddress& address) {
  auto& node = nodes_[address];
  if (!node) {
    node = std::make_shared<ClusterNode>(address, connection_template_, pool_options_);
  }
  return node;
}

}  // namespace flashsale::detail
