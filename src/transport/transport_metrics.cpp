#include "transport/transport_metrics.hpp"

#include <cctype>
#include <mutex>

#include <fmt/format.h>

#include "flashsale/durability.hpp"

namespace flashsale::detail {

namespace {

constexpr std::string_view kLatencyName = "flashsale_redis_call_duration_seconds";
constexpr std::string_view kLatencyHelp =
    "Duration of client calls to Redis, by operation (script or command), including pool waits, "
    "NOSCRIPT fallbacks and cluster redirects.";
constexpr std::string_view kErrorsName = "flashsale_redis_errors_total";
constexpr std::string_view kErrorsHelp =
    "Client calls that failed (timeout, connection, protocol) or entries answered with an error "
    "reply (reply), by operation.";

const char* kind_label(CallKind kind) {
  switch (kind) {
    case CallKind::Command:
      return "command";
    case CallKind::CommandPipeline:
      return "command_pipeline";
    case CallKind::Script:
      return "script";
    case CallKind::ScriptPipeline:
      return "script_pipeline";
  }
  return "command";
}

const char* error_kind(const Error& error) {
  if (dynamic_cast<const TimeoutError*>(&error) != nullptr) {
    return "timeout";
  }
  if (dynamic_cast<const ConnectionError*>(&error) != nullptr) {
    return "connection";
  }
  if (dynamic_cast<const DurabilityError*>(&error) != nullptr) {
    return "durability";
  }
  if (dynamic_cast<const ReplyError*>(&error) != nullptr) {
    return "reply";
  }
  if (dynamic_cast<const ProtocolError*>(&error) != nullptr) {
    return "protocol";
  }
  return "other";
}

std::string endpoint(const ConnectionOptions& options) {
  return options.unix_socket.empty() ? fmt::format("{}:{}", options.host, options.port)
                                     : options.unix_socket;
}

}  // namespace

CallMetrics::CallMetrics(std::shared_ptr<MetricsRegistry> registry)
    : noscript_fallbacks(registry->counter(
          "flashsale_redis_noscript_fallbacks_total",
          "Script calls answered NOSCRIPT and sent again with EVAL (server restart, failover, "
          "SCRIPT FLUSH).")),
      transient_retries(registry->counter(
          "flashsale_redis_transient_retries_total",
          "Commands or scripts sent again because the server refused them in a passing state "
          "(LOADING, MASTERDOWN, TRYAGAIN, READONLY after a failover, CLUSTERDOWN), within the "
          "call's retry budget.")),
      registry_(std::move(registry)) {}

void CallMetrics::count_master_change() {
  registry_
      ->counter("flashsale_redis_sentinel_master_changes_total",
                "Times a Sentinel client found its service's master at a new address (a failover "
                "it followed).")
      .inc();
}

void CallMetrics::count_redirect(bool moved) {
  registry_
      ->counter("flashsale_redis_cluster_redirects_total",
                "MOVED and ASK redirects followed by the cluster client.",
                {{"type", moved ? "moved" : "ask"}})
      .inc();
}

const CallMetrics::Operation& CallMetrics::command_latency(
    CallKind kind, const std::vector<std::string>& arguments) {
  const std::string_view sent = arguments.empty() ? std::string_view{} : arguments.front();
  auto& operations = commands_[static_cast<std::size_t>(kind)];
  {
    const std::shared_lock<std::shared_mutex> lock(mutex_);
    const auto found = operations.find(sent);
    if (found != operations.end()) {
      return found->second;
    }
  }
  std::string name(sent);
  for (auto& c : name) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  Histogram& latency = registry_->histogram(kLatencyName, kLatencyHelp, default_latency_buckets(),
                                            {{"kind", kind_label(kind)}, {"operation", name}});
  const std::lock_guard<std::shared_mutex> lock(mutex_);
  return operations.try_emplace(std::string(sent), Operation{&latency, name}).first->second;
}

const CallMetrics::Operation& CallMetrics::script_latency(CallKind kind, const Script* script) {
  auto& operations = scripts_[static_cast<std::size_t>(kind)];
  {
    const std::shared_lock<std::shared_mutex> lock(mutex_);
    const auto found = operations.find(script);
    if (found != operations.end()) {
      return found->second;
    }
  }
  const std::string name = script != nullptr ? std::string(script->name) : std::string("none");
  Histogram& latency = registry_->histogram(kLatencyName, kLatencyHelp, default_latency_buckets(),
                                            {{"kind", kind_label(kind)}, {"operation", name}});
  const std::lock_guard<std::shared_mutex> lock(mutex_);
  return operations.try_emplace(script, Operation{&latency, name}).first->second;
}

void CallMetrics::count_error(const Operation& operation, const Error& error) {
  registry_
      ->counter(kErrorsName, kErrorsHelp,
                {{"kind", error_kind(error)}, {"operation", operation.name}})
      .inc();
}

void CallMetrics::count_error_replies(const Operation&, const Reply&) {
  // A single call's error reply is thrown as ReplyError and counted there.
}

void CallMetrics::count_error_replies(const Operation& operation,
                                      const std::vector<Reply>& replies) {
  std::uint64_t errors = 0;
  for (const auto& reply : replies) {
    errors += reply.is_error() ? 1 : 0;
  }
  if (errors != 0) {
    registry_->counter(kErrorsName, kErrorsHelp, {{"kind", "reply"}, {"operation", operation.name}})
        .inc(errors);
  }
}

std::unique_ptr<CallMetrics> make_call_metrics(const ConnectionOptions& options) {
  if (!options.metrics) {
    return nullptr;
  }
  return std::make_unique<CallMetrics>(options.metrics);
}

PoolMetrics::PoolMetrics(MetricsRegistry& registry, const std::string& node)
    : size(registry.gauge("flashsale_redis_pool_size",
                          "Most connections the client pools may open, per node.",
                          {{"node", node}})),
      open(registry.gauge("flashsale_redis_pool_open_connections",
                          "Pooled connections open now (idle and in use), per node.",
                          {{"node", node}})),
      in_use(registry.gauge("flashsale_redis_pool_in_use_connections",
                            "Pooled connections lent to a call now, per node.", {{"node", node}})),
      wait_seconds(registry.histogram(
          "flashsale_redis_pool_wait_seconds",
          "Time a call waited for a pooled connection (including connecting a new one), per node.",
          default_latency_buckets(), {{"node", node}})) {}

std::unique_ptr<PoolMetrics> make_pool_metrics(const ConnectionOptions& options) {
  if (!options.metrics) {
    return nullptr;
  }
  return std::make_unique<PoolMetrics>(*options.metrics, endpoint(options));
}

void count_connection_opened(const ConnectionOptions& options) {
  if (options.metrics) {
    options.metrics
        ->counter("flashsale_redis_connections_opened_total",
                  "Connections opened to Redis (the first ones and every reconnect), per node.",
                  {{"node", endpoint(options)}})
        .inc();
  }
}

void count_connection_dropped(const ConnectionOptions& options, std::string_view reason) {
  if (options.metrics) {
    options.metrics
        ->counter("flashsale_redis_connections_dropped_total",
                  "Connections discarded because they broke (error or timeout mid-call) or the "
                  "server closed them (restart, CLIENT KILL, timeout), per node.",
                  {{"node", endpoint(options)}, {"reason", std::string(reason)}})
        .inc();
  }
}

}  // namespace flashsale::detail
