#include "transport/server_info.hpp"

#include <cstdlib>
#include <sstream>

#include "flashsale/error.hpp"

namespace flashsale::detail {

ServerInfo parse_server_info(const std::string& info_text) {
  ServerInfo info;
  std::istringstream lines(info_text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    const std::string field = line.substr(0, colon);
    const std::string value = line.substr(colon + 1);
    if (field == "redis_version") {
      info.version = value;
      info.major_version = std::atoi(value.c_str());
      const auto dot = value.find('.');
      info.minor_version = dot == std::string::npos ? 0 : std::atoi(value.c_str() + dot + 1);
    } else if (field == "maxmemory_policy") {
      info.maxmemory_policy = value;
    } else if (field == "redis_mode") {
      info.mode = value;
    } else if (field == "aof_enabled") {
      info.aof_enabled = value == "1";
    }
  }
  if (info.version.empty()) {
    throw ProtocolError("INFO reply has no redis_version field");
  }
  return info;
}

ServerInfo ServerInfoCache::get(Client& client, PersistenceCheck persistence) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (info_) {
      return *info_;
    }
  }
  ServerInfo info = parse_server_info(client.execute({{"INFO"}, {}, {}}).as_string());
  const std::lock_guard<std::mutex> lock(mutex_);
  if (info_) {
    return *info_;  // another thread read it meanwhile (and ran the check)
  }
  check_persistence(info, persistence);
  info_ = info;
  return info;
}

}  // namespace flashsale::detail
