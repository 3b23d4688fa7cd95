// INFO, read once per client: the parser of the fields flashsale needs and
// the cache both clients answer server_info() from.
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "flashsale/client.hpp"
#include "flashsale/preflight.hpp"

namespace flashsale::detail {

// Parses the text of INFO into the fields flashsale needs.
FLASHSALE_EXPORT ServerInfo parse_server_info(const std::string& info_text);

// The ServerInfo a client answers server_info() with: read once, then kept.
// Thread-safe; concurrent first calls may each read INFO.
class ServerInfoCache {
 public:
  // The kept info, or the parsed INFO of `client` kept from now on once
  // check_persistence(info, `persistence`) accepted it: a check that throws
  // (Refuse) keeps nothing, so it runs again on the next call; one that
  // returns (a warning, or nothing) runs once per cache.
  ServerInfo get(Client& client, PersistenceCheck persistence);

 private:
  std::mutex mutex_;
  std::optional<ServerInfo> info_;
};

}  // namespace flashsale::detail
