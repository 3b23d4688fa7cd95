// The transport's metrics (ConnectionOptions::metrics): private to the
// transport layer. Everything here is reached through a pointer that is null
// when metrics are off, so a client without a registry pays one branch.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/error.hpp"
#include "flashsale/export.hpp"
#include "flashsale/metrics.hpp"

namespace flashsale::detail {

// What one client call was, for the latency histogram's labels.
enum class CallKind { Command, CommandPipeline, Script, ScriptPipeline };

// The per-client figures: call latency per operation, errors by kind and
// operation, NOSCRIPT fallbacks, transient retries, cluster redirects,
// Sentinel master changes. Thread-safe. FLASHSALE_EXPORT: exported for
// bench/metrics_overhead_bench, not part of the API.
class FLASHSALE_EXPORT CallMetrics {
 public:
  explicit CallMetrics(std::shared_ptr<MetricsRegistry> registry);

  // Runs `call` (returning a Reply or a vector of replies), observes its
  // duration under (kind, operation) and counts a thrown flashsale::Error, or
  // the error replies it returned, as errors. `metrics` may be null: then it
  // only runs `call`.
  template <typename Call>
  static auto observe(CallMetrics* metrics, CallKind kind, const Command& first, Call&& call)
      -> decltype(call()) {
    if (metrics == nullptr) {
      return call();
    }
    return metrics->observe_with(metrics->command_latency(kind, first.arguments),
                                 std::forward<Call>(call));
  }
  template <typename Call>
  static auto observe(CallMetrics* metrics, CallKind kind, const Script* script, Call&& call)
      -> decltype(call()) {
    if (metrics == nullptr) {
      return call();
    }
    return metrics->observe_with(metrics->script_latency(kind, script), std::forward<Call>(call));
  }
  template <typename Call>
  static auto observe(CallMetrics* metrics, CallKind kind, const ScriptCall& first, Call&& call)
      -> decltype(call()) {
    return observe(metrics, kind, first.script, std::forward<Call>(call));
  }
  // The same for one script call from views (Client::run_script_views).
  template <typename Call>
  static auto observe(CallMetrics* metrics, const Script& script, Call&& call) -> decltype(call()) {
    if (metrics == nullptr) {
      return call();
    }
    return metrics->observe_with(metrics->script_latency(CallKind::Script, &script),
                                 std::forward<Call>(call));
  }

  Counter& noscript_fallbacks;
  // Entries sent again after the server refused them in a passing state
  // (LOADING, MASTERDOWN, TRYAGAIN; READONLY and CLUSTERDOWN where the client
  // retries those), within the call's retry budget.
  Counter& transient_retries;
  // A MOVED (`moved`) or ASK redirect the cluster client followed; rare, so
  // the series is looked up (and created) per call.
  void count_redirect(bool moved);
  // A SentinelClient found the service's master at another address than
  // before (a failover it followed); rare, looked up per call.
  void count_master_change();

 private:
  struct Operation {
    Histogram* latency = nullptr;
    std::string name;
  };

  template <typename Call>
  auto observe_with(const Operation& operation, Call&& call) -> decltype(call()) {
    const auto started = std::chrono::steady_clock::now();
    try {
      auto result = call();
      operation.latency->observe(std::chrono::steady_clock::now() - started);
      count_error_replies(operation, result);
      return result;
    } catch (const Error& error) {
      operation.latency->observe(std::chrono::steady_clock::now() - started);
      count_error(operation, error);
      throw;
    }
  }

  const Operation& command_latency(CallKind kind, const std::vector<std::string>& arguments);
  const Operation& script_latency(CallKind kind, const Script* script);
  void count_error(const Operation& operation, const Error& error);
  void count_error_replies(const Operation& operation, const Reply& reply);
  void count_error_replies(const Operation& operation, const std::vector<Reply>& replies);

  std::shared_ptr<MetricsRegistry> registry_;
  std::shared_mutex mutex_;
  // Per CallKind: by script, and by command name as sent. The values never
  // move (node-based maps), so references to them stay valid.
  std::array<std::unordered_map<const Script*, Operation>, 4> scripts_;
  std::array<std::map<std::string, Operation, std::less<>>, 4> commands_;
};

// Null when `options` has no registry.
std::unique_ptr<CallMetrics> make_call_metrics(const ConnectionOptions& options);

// The figures of one connection pool, labelled with its node. Gauges are
// shared by every pool of that node in the registry (they add up).
struct PoolMetrics {
  PoolMetrics(MetricsRegistry& registry, const std::string& node);
  Gauge& size;    // most connections the pool opens
  Gauge& open;    // open now (idle + in use)
  Gauge& in_use;  // lent out now
  Histogram& wait_seconds;
};

// Null when `options` has no registry.
std::unique_ptr<PoolMetrics> make_pool_metrics(const ConnectionOptions& options);

// A connection opened, or dropped after it broke or the server closed it.
// No-ops when `options` has no registry.
void count_connection_opened(const ConnectionOptions& options);
void count_connection_dropped(const ConnectionOptions& options, std::string_view reason);

}  // namespace flashsale::detail
