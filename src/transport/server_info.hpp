// INFO, read once per client: the parser of the fields flashsale needs and
// the cache both clients answer server_info() from.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "flashsale/client.hpp"

namespace flashsale::detail {

// Parses the text of INFO into the fields flashsale needs.
FLASHSALE_EXPORT ServerInfo parse_server_info(const std::string& info_text);

// The ServerInfo a client answers server_info() with: read once, then kept.
// Thread-safe; concurrent first calls may each read INFO.
class ServerInfoCache {
 public:
  // The kept info, or parse_server_info(read_info()) kept from now on once
  // `check` (when given) accepted it: a check that throws keeps nothing, so
  // it runs again on the next call; one that returns runs once per cache.
  ServerInfo get(const std::function<std::string()>& read_info,
                 const std::function<void(const ServerInfo&)>& check = {});

 private:
  std::mutex mutex_;
  std::optional<ServerInfo> info_;
};

}  // namespace flashsale::detail
