// A Client for a Redis master watched by Redis Sentinel: it asks the
// sentinels where the master of a named service is, and follows failovers,
// so every component runs unchanged on a Sentinel-managed deployment.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/export.hpp"

namespace flashsale {

struct SentinelClientOptions {
  // The sentinels, "host:port" (IPv6 as "[::1]:26379"); at least one. They
  // are asked in order, the one that last answered first.
  std::vector<std::string> sentinels;
  // The service (master) name, as in `sentinel monitor <name> ...`: 1..128
  // bytes, no braces, whitespace or control characters.
  std::string service;
  // How to talk to the sentinels: timeouts and the sentinels' own user and
  // password (`requirepass` / ACL of the sentinel processes). host, port and
  // db are replaced.
  ConnectionOptions sentinel_connection = [] {
    ConnectionOptions options;
    options.connect_timeout = std::chrono::milliseconds(500);
    options.command_timeout = std::chrono::milliseconds(500);
    return options;
  }();
  // Template for every connection to the master: timeouts, user, password,
  // db, persistence_check and durability. host and port are replaced by the
  // master's; unix_socket must be empty. Its transient_retry_budget is not
  // used: retry_budget below covers LOADING, MASTERDOWN and TRYAGAIN too.
  ConnectionOptions connection;
  // Connection pool of the current master (rebuilt when the master changes).
  // shared_connections must be 0.
  PoolOptions pool;
  // Longest time one call spends retrying (resolving the master again,
  // connecting, READONLY, LOADING, MASTERDOWN, TRYAGAIN) before the last
  // failure surfaces. Zero: no retry. Measured from the start of the call and
  // checked between attempts (backoff 10 to 250 ms), so a call can take up
  // to the budget plus one connect and one command timeout. A Sentinel
  // failover takes down-after-milliseconds plus the election (seconds): give
  // callers that should ride through it a budget longer than that.
  std::chrono::milliseconds retry_budget{10000};
  // Whether a command is sent again after its connection broke after it was
  // sent (it may have run). As ClusterClientOptions::retry_after_connection_loss:
  // off by default; flashsale's state-changing scripts are idempotent per
  // caller id, but not every command a component sends is.
  bool retry_after_connection_loss = false;
};

// Thread-safe: share one instance between all threads of the host.
//
// Resolution: the master's address comes from `SENTINEL
// get-master-addr-by-name <service>`, asked of the sentinels in order (the
// first to answer wins and is asked first next time). Every new connection
// to the master is checked with ROLE before any command goes over it: a node
// that is not master (a demoted master restarted from its AOF still says
// master until Sentinel reconfigures it; the address a sentinel gave during a
// failover) is dropped, the master resolved again, and nothing is sent to it.
//
// The master is resolved again when:
//  - a connection cannot be made, or the node is not master (ROLE): nothing
//    was sent, so the call goes on with the new master within the budget;
//  - a command is answered READONLY (the node was demoted under an open
//    connection; the command did not run): sent again to the new master;
//  - a connection breaks (Sentinel kills the clients of a node it demotes):
//    ConnectionError surfaces unless retry_after_connection_loss is set.
// So a write is only ever executed by a node that said ROLE master when its
// connection was opened and did not refuse it as a replica.
//
// Errors: as Client. ConfigurationError when the sentinels that answered do
// not know the service (not retried), ReplyError when a sentinel or the master
// refuses authentication, DurabilityError with connection.durability (see
// durability.hpp). A TimeoutError after a command was sent is never retried.
class FLASHSALE_EXPORT SentinelClient final : public Client {
 public:
  // Throws InvalidArgument (before any I/O) for no sentinels, a malformed
  // sentinel address, a bad service name, a unix socket, a pool size of 0,
  // shared_connections, a negative budget or bad durability options. Does not
  // connect.
  explicit SentinelClient(SentinelClientOptions options);
  ~SentinelClient() override;
  SentinelClient(const SentinelClient&) = delete;
  SentinelClient& operator=(const SentinelClient&) = delete;

  Reply execute(const Command& command) override;
  std::vector<Reply> execute_pipeline(const std::vector<Command>& commands) override;
  std::vector<Reply> run_script_pipeline(const std::vector<ScriptCall>& calls) override;
  using Client::run_script_pipeline;  // the views overload
  // INFO of the master, read once and cached (the persistence check runs then).
  ServerInfo server_info() override;

  // "host:port" of the master as last resolved; empty before the first call.
  std::string current_master() const;
  const SentinelClientOptions& options() const noexcept;

 protected:
  // The views written straight to a pooled connection of the master, with
  // the same re-resolution, retries and WAIT as run_script_pipeline.
  Reply run_script_views(const Script& script, ArgumentViews keys,
                         ArgumentViews arguments) override;
  std::vector<Reply> run_script_pipeline_views(const std::vector<ScriptCallView>& calls) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flashsale
