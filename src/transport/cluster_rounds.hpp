// The parts of one ClusterClient call, each testable without a cluster:
// grouping the commands of a round by node and settling one reply (final,
// redirect or transient); the rounds are paced by a RetryBudget.
// Private to the transport layer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "flashsale/reply.hpp"
#include "transport/retry_budget.hpp"
#include "transport/slot_map.hpp"

namespace flashsale::detail {

// What one reply means for the command that got it.
struct Settlement {
  enum class Kind {
    Final,      // the caller's reply (a result, or an error nobody retries)
    Redirect,   // MOVED or ASK with redirects left: send again where it says
    Transient,  // TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN: send again later
  };
  Kind kind = Kind::Final;
  std::optional<Redirect> redirect;  // Kind::Redirect only
};

// Settles `reply`, read from a node at `node_host`, of a command that was
// redirected `redirects` times so far; a redirect past `max_redirects` is final.
Settlement settle(const Reply& reply, std::string_view node_host, int redirects, int max_redirects);

// Groups `entries` by the node `route(entry)` names, keeping their order
// within each group and the groups in order of first appearance. Entries for
// which `route` gives nullptr (no known node) go to `unrouted`, in order.
template <typename Node, typename Entry, typename Route>
std::vector<std::pair<std::shared_ptr<Node>, std::vector<Entry>>> group_by_node(
    std::vector<Entry> entries, Route route, std::vector<Entry>& unrouted) {
  std::vector<std::pair<std::shared_ptr<Node>, std::vector<Entry>>> groups;
  for (auto& entry : entries) {
    std::shared_ptr<Node> node = route(entry);
    if (!node) {
      unrouted.push_back(std::move(entry));
      continue;
    }
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const auto& candidate) { return candidate.first == node; });
    if (group == groups.end()) {
      groups.emplace_back(std::move(node), std::vector<Entry>{});
      group = std::prev(groups.end());
    }
    group->second.push_back(std::move(entry));
  }
  return groups;
}

}  // namespace flashsale::detail
