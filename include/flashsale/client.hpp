// The transport interface the components are written against. Implemented by
// StandaloneClient (a pool of connections to one server); a cluster client
// implements the same interface.
#pragma once

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
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

// Consecutive binary-safe strings, viewed, not owned (C++17 has no
// std::span): the keys or arguments of Client::run_script's view overload.
// Built from a braced list of std::string_view, a
// std::vector<std::string_view> or a pointer and a count. Pass it straight
// into the call: a braced list's views live only until the end of the
// statement that wrote it.
class ArgumentViews {
 public:
  ArgumentViews() = default;
  ArgumentViews(std::initializer_list<std::string_view> views) noexcept
      : data_(std::data(views)), size_(views.size()) {}
  ArgumentViews(const std::vector<std::string_view>& views) noexcept
      : data_(views.data()), size_(views.size()) {}
  ArgumentViews(const std::string_view* data, std::size_t size) noexcept
      : data_(data), size_(size) {}

  const std::string_view* begin() const noexcept { return data_; }
  const std::string_view* end() const noexcept { return data_ + size_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const std::string_view& operator[](std::size_t index) const noexcept { return data_[index]; }

 private:
  const std::string_view* data_ = nullptr;
  std::size_t size_ = 0;
};

// One script call with its keys and arguments viewed, not owned: the
// zero-copy form of ScriptCall for Client::run_script_pipeline. The viewed
// bytes need only outlive the call they are passed to.
struct ScriptCallView {
  const Script* script = nullptr;
  ArgumentViews keys;
  ArgumentViews arguments;
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
  // The same call with its keys and arguments as views into the caller's
  // memory: the bundled clients format them straight into the RESP they
  // write, copying nothing on the way (auto-pipelined callers then copy
  // those bytes once onto the shared connection). Same contract,
  // errors and NOSCRIPT handling as run_script(ScriptCall); the viewed bytes
  // need only outlive the call.
  Reply run_script(const Script& script, ArgumentViews keys, ArgumentViews arguments);
  // Pipelined script calls, replies in order. Entries that met NOSCRIPT are
  // re-run with EVAL after the rest of the pipeline, in their original order.
  virtual std::vector<Reply> run_script_pipeline(const std::vector<ScriptCall>& calls) = 0;
  // The same pipeline with every call's keys and arguments as views (the
  // components' batch calls), formatted as run_script's views are. Same
  // contract, errors and NOSCRIPT handling; throws InvalidArgument for a
  // call without a script, before anything is sent.
  std::vector<Reply> run_script_pipeline(const std::vector<ScriptCallView>& calls);

  // Server version and eviction policy, read with INFO once and cached.
  virtual ServerInfo server_info() = 0;

 protected:
  // What both run_script overloads run. The default copies the call into a
  // one-entry run_script_pipeline and throws its error reply as ReplyError;
  // an implementation overrides it to send the views without copying them.
  virtual Reply run_script_views(const Script& script, ArgumentViews keys, ArgumentViews arguments);
  // What run_script_pipeline(views) runs (calls not empty, each with a
  // script). The default copies the calls into run_script_pipeline(ScriptCall).
  virtual std::vector<Reply> run_script_pipeline_views(const std::vector<ScriptCallView>& calls);
};

}  // namespace flashsale
