// The transport interface the components are written against. Implemented by
// StandaloneClient (a pool of connections to one server); a cluster client
// implements the same interface.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "flashsale/export.hpp"
#include "flashsale/reply.hpp"
#include "flashsale/script.hpp"

namespace flashsale {

// One Redis command.
struct Command {
  // The command name first, then its arguments, as binary-safe strings.
  std::vector<std::string> arguments;
  // A key the command touches, used to route it on a cluster; empty means the
  // command may run on any node.
  std::string routing_key;
  // Overrides ConnectionOptions::command_timeout for this command when not
  // zero (blocking reads such as XREADGROUP BLOCK need a longer one).
  std::chrono::milliseconds timeout{0};
};

// One call of a bundled script. All keys must share one hash tag; the first
// key routes the call.
struct ScriptCall {
  const Script* script = nullptr;
  std::vector<std::string> keys;
  std::vector<std::string> arguments;
};

struct ServerInfo {
  std::string version;  // e.g. "7.0.15"
  int major_version = 0;
  int minor_version = 0;
  std::string maxmemory_policy;  // e.g. "noeviction"
  std::string mode;              // "standalone" or "cluster"
  bool aof_enabled = false;      // appendonly yes
};

// Thread-safety: every implementation may be shared by any number of threads.
//
// Errors: single calls throw ReplyError for an error reply. Pipelines return
// error replies in place (their accessors throw), so one failed entry does not
// hide the outcome of the others. All calls throw ConnectionError,
// TimeoutError and ProtocolError for failures of the transport.
class FLASHSALE_EXPORT Client {
 public:
  virtual ~Client() = default;

  virtual Reply execute(const Command& command) = 0;
  // Sends all commands before reading any reply; replies come back in order.
  virtual std::vector<Reply> execute_pipeline(const std::vector<Command>& commands) = 0;

  // Runs a bundled script with EVALSHA. When the server does not know the
  // script (restart, failover, SCRIPT FLUSH) it is sent again with EVAL and
  // the call retried once, invisibly. A one-entry run_script_pipeline whose
  // error reply is thrown as ReplyError.
  Reply run_script(const ScriptCall& call);
  // Pipelined script calls, replies in order. Entries that met NOSCRIPT are
  // re-run with EVAL after the rest of the pipeline, in their original order.
  virtual std::vector<Reply> run_script_pipeline(const std::vector<ScriptCall>& calls) = 0;

  // Server version and eviction policy, read with INFO once and cached.
  virtual ServerInfo server_info() = 0;
};

}  // namespace flashsale
