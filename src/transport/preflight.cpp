#include "flashsale/preflight.hpp"

#include <fmt/format.h>

#include "flashsale/error.hpp"
#include "flashsale/log.hpp"

namespace flashsale {

void check_eviction_policy(Client& client, EvictionPolicyCheck mode) {
  if (mode == EvictionPolicyCheck::Skip) {
    return;
  }
  const ServerInfo info = client.server_info();
  if (info.maxmemory_policy == "noeviction") {
    return;
  }
  const std::string message = fmt::format(
      "redis {} runs with maxmemory-policy '{}': under memory pressure it deletes keys "
      "(stock, holds, issued users) silently; set it to 'noeviction'",
      info.version, info.maxmemory_policy);
  if (mode == EvictionPolicyCheck::Refuse) {
    throw ConfigurationError(message);
  }
  log_message(LogLevel::Warning, message);
}

void check_persistence(const ServerInfo& info, PersistenceCheck mode) {
  if (mode == PersistenceCheck::Skip || info.aof_enabled) {
    return;
  }
  const std::string message = fmt::format(
      "redis {} runs with appendonly no: a restart or crash brings back at most the last RDB "
      "snapshot, so coupons and stock acknowledged since are forgotten and sold again; set "
      "appendonly yes (or set ConnectionOptions::persistence_check to Skip if you accept it)",
      info.version);
  if (mode == PersistenceCheck::Refuse) {
    throw ConfigurationError(message);
  }
  log_message(LogLevel::Warning, message);
}

}  // namespace flashsale
