// Server-side durations of Lua script calls, read from the Redis slowlog.
//
// The timer sets `slowlog-log-slower-than 0` (every command is logged) and a
// long slowlog, and restores both settings when destroyed. Redis 7 also logs
// every command a script runs (redis.call), right before the script's own
// EVALSHA entry, so one script over thousands of keys adds thousands of
// entries and a plain `SLOWLOG GET` after a run loses the older scripts'
// entries. The timer therefore drains the slowlog (GET and RESET in one
// MULTI/EXEC, so nothing is lost in between) from its own connection every
// few hundred microseconds while the measured operation runs; the log only
// has to hold what a few script calls add between two drains.
//
// A duration is the server's wall time for the call (µs): it excludes the
// network and queueing, but includes any time the redis-server thread was
// descheduled, so it is inflated on a loaded machine.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flashsale/script.hpp"
#include "flashsale/standalone_client.hpp"

namespace bench {

class BenchServer;

// Not thread-safe; one per benchmark program (the slowlog is server-wide).
class ScriptTimer {
 public:
  explicit ScriptTimer(const BenchServer& server);
  ~ScriptTimer();
  ScriptTimer(const ScriptTimer&) = delete;
  ScriptTimer& operator=(const ScriptTimer&) = delete;

  // Runs `operation` and returns the durations (µs) of the calls of `script`
  // (EVALSHA, or EVAL of its source) that the server ran meanwhile, in no
  // particular order. Rethrows what `operation` throws.
  std::vector<long long> time(const flashsale::Script& script,
                              const std::function<void()>& operation);

 private:
  void drain(const flashsale::Script& script, std::vector<long long>* durations);
  std::string config_get(const char* name);

  std::unique_ptr<flashsale::StandaloneClient> client_;
  std::string threshold_;
  std::string length_;
};

}  // namespace bench
