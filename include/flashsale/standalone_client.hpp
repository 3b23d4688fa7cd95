// A Client for one Redis server, backed by a pool of connections.
#pragma once

#include <memory>

#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/export.hpp"

namespace flashsale {

struct StandaloneClientOptions {
  // The server, credentials and timeouts of every connection.
  ConnectionOptions connection;
  // The pool, and auto-pipelining (PoolOptions::shared_connections).
  PoolOptions pool;
};

// Thread-safe: share one instance between all threads of the host.
//
// Each call borrows a pooled connection for its duration, or, with
// PoolOptions::shared_connections, writes its commands on a shared
// connection at once, behind the replies still outstanding there
// (auto-pipelining). A connection that
// timed out or failed mid-reply is discarded, never reused (its replies would
// be out of step). Idle connections whose server went away (a restart) are
// detected before use and replaced, so the next call after a restart simply
// reconnects (the check costs a syscall, so it is made only on a connection
// idle for more than 1 ms: see PoolOptions). Construction does not connect;
// the first call does.
//
// Commands the server refuses while in a passing state (LOADING after a
// restart, MASTERDOWN, TRYAGAIN: not run) are sent again within
// ConnectionOptions::transient_retry_budget, so a restart with a large
// dataset shows callers a ConnectionError (the server was away) at most,
// never LOADING. With ConnectionOptions::durability, scripts that write are
// followed by WAIT on the same connection (durability.hpp). The first
// server_info() runs the persistence check (preflight.hpp) once.
//
// Throws InvalidArgument at construction for a negative
// transient_retry_budget or durability options that cannot work.
class FLASHSALE_EXPORT StandaloneClient final : public Client {
 public:
  explicit StandaloneClient(StandaloneClientOptions options = {});
  // The same as StandaloneClient(StandaloneClientOptions{connection, pool}).
  explicit StandaloneClient(ConnectionOptions connection, PoolOptions pool = {});
  ~StandaloneClient() override;
  StandaloneClient(const StandaloneClient&) = delete;
  StandaloneClient& operator=(const StandaloneClient&) = delete;

  Reply execute(const Command& command) override;
  std::vector<Reply> execute_pipeline(const std::vector<Command>& commands) override;
  std::vector<Reply> run_script_pipeline(const std::vector<ScriptCall>& calls) override;
  using Client::run_script_pipeline;  // the views overload
  ServerInfo server_info() override;

  const StandaloneClientOptions& options() const noexcept;

  // One pooled connection held for a sequence of commands that must share it
  // (WATCH ... MULTI ... EXEC). Returned to the pool when destroyed, unless it
  // broke. Not thread-safe: one thread uses it at a time. Must not outlive
  // the client.
  class PinnedConnection {
   public:
    ~PinnedConnection();
    PinnedConnection(PinnedConnection&&) noexcept;
    PinnedConnection& operator=(PinnedConnection&&) = delete;
    PinnedConnection(const PinnedConnection&) = delete;
    PinnedConnection& operator=(const PinnedConnection&) = delete;

    // As Client::execute / execute_pipeline, on this one connection.
    Reply execute(const Command& command);
    std::vector<Reply> execute_pipeline(const std::vector<Command>& commands);

   private:
    friend class StandaloneClient;
    struct State;
    explicit PinnedConnection(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
  };

  // Borrows a connection until the returned object is destroyed. Throws as
  // execute() does when no connection can be had.
  PinnedConnection pin();

 protected:
  // Without auto-pipelining: EVALSHA (and EVAL after NOSCRIPT, on the same
  // connection) written straight from the views, with the same transient
  // retries and WAIT as run_script_pipeline.
  Reply run_script_views(const Script& script, ArgumentViews keys,
                         ArgumentViews arguments) override;
  std::vector<Reply> run_script_pipeline_views(const std::vector<ScriptCallView>& calls) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flashsale
