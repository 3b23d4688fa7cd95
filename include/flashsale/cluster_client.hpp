// A Client for a Redis Cluster: the same interface as StandaloneClient, so
// every component runs unchanged on a cluster.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/export.hpp"

namespace flashsale {

struct ClusterClientOptions {
  // Nodes to learn the topology from, "host:port" (IPv6 as "[::1]:7000").
  // One reachable master or replica is enough; list several.
  std::vector<std::string> seeds;
  // Template for every node connection: timeouts, user and password, and
  // persistence_check and durability (durability.hpp: one WAIT per master a
  // pipeline's writes reached, on the same connection). Its host and port are
  // replaced by each node's; unix_socket must be empty and db 0 (a cluster
  // has only database 0). Its transient_retry_budget is not used:
  // retry_budget below covers LOADING and MASTERDOWN.
  ConnectionOptions connection;
  // Connection pool of each master.
  PoolOptions pool;
  // Longest time one call spends retrying (redirects, TRYAGAIN, CLUSTERDOWN,
  // LOADING, MASTERDOWN, unreachable nodes) before the last error surfaces.
  // Zero retries only redirects. Measured from the start of the call and
  // checked between rounds, so one call can take up to the budget plus one
  // connect or pool wait plus one command timeout.
  std::chrono::milliseconds retry_budget{5000};
  // Most MOVED/ASK redirects one command follows within a call.
  int max_redirects = 16;
  // Whether a command is sent again after its connection broke after it was
  // sent (ConnectionError, not a timeout): it may have run already. Off by
  // default, because the transport cannot know whether a command is
  // idempotent. Every flashsale script that changes state is idempotent per
  // caller id, but some components also send commands that are not (e.g.
  // ZINCRBY of a ranking); turn it on only when all you send is idempotent.
  bool retry_after_connection_loss = false;
};

// Thread-safe: share one instance between all threads of the host.
//
// Routing: a Command goes to the master of the slot of its routing_key, a
// ScriptCall to the master of its first key's slot (every key of one call
// shares one hash tag, see hash_slot.hpp); an empty routing key (or a script
// without keys) goes to any master. Replicas are never read from.
//
// Topology: the slot map comes from CLUSTER SLOTS, loaded by the first call
// (construction does not connect), patched per slot on MOVED, and reloaded
// when a node is unreachable or a MOVED names an unknown node. Each master
// has its own pool of `pool.size` connections.
//
// Pipelines are split per master, each part sent as one pipeline, and the
// replies put back in the caller's order. Entries answered with a redirect or
// a transient error are sent again in a later round (in their original order
// among themselves); entries to different slots are independent, so ordering
// is only kept between commands of one slot.
//
// What is retried, within retry_budget (with a backoff of 10 to 250 ms
// between rounds that did not progress):
//  - MOVED (the slot map is updated) and ASK (ASKING then the command on the
//    target's connection): the server did not run the command.
//  - TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN replies: refused, not run.
//  - Failures to obtain a connection (connect refused or timed out, pool
//    exhausted): nothing was sent. The slot map is reloaded first.
//  - A connection that broke after the command was sent: only when
//    retry_after_connection_loss is set (see there). Otherwise ConnectionError
//    surfaces at once and says the command may have run.
// Never retried: a TimeoutError after the command was sent (the command may
// still be running; a retry could run it twice). It surfaces at once.
// When the budget runs out, the last failure surfaces: ConnectionError or
// TimeoutError when no node answered, otherwise the last error reply
// (ReplyError from execute/run_script, the error reply in place for
// pipelines). In a pipeline, a failure that surfaces as an exception hides
// the replies of the other entries, which may have run: retry with the same
// ids (flashsale's state-changing calls are idempotent).
//
// NOSCRIPT is handled on whichever node answers it: the call is sent again
// with EVAL, which caches the script on that node.
class FLASHSALE_EXPORT ClusterClient final : public Client {
 public:
  // Throws InvalidArgument for no seeds, a malformed seed, a unix socket, a
  // database other than 0, a pool size of 0 or a negative budget or redirect
  // limit. Does not connect.
  explicit ClusterClient(ClusterClientOptions options);
  ~ClusterClient() override;
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  Reply execute(const Command& command) override;
  std::vector<Reply> execute_pipeline(const std::vector<Command>& commands) override;
  std::vector<Reply> run_script_pipeline(const std::vector<ScriptCall>& calls) override;
  using Client::run_script_pipeline;  // the views overload
  // INFO of one master, read once and cached; mode is "cluster".
  ServerInfo server_info() override;

  const ClusterClientOptions& options() const noexcept;

 protected:
  // EVALSHA (EVAL after NOSCRIPT) written straight from the views into each
  // node's pipeline, through every redirect and retry, without a copy.
  Reply run_script_views(const Script& script, ArgumentViews keys,
                         ArgumentViews arguments) override;
  std::vector<Reply> run_script_pipeline_views(const std::vector<ScriptCallView>& calls) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flashsale
