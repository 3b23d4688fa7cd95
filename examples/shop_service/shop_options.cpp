#include "shop_options.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <stdexcept>
#include <string_view>

namespace shop {
namespace {

constexpr std::string_view kUsage =
    "usage: shop_service [--mode=library|postgres] [--port=N] [--postgres=CONNINFO]\n"
    "                    [--redis=HOST:PORT] [--http-threads=N] [--redis-pool=N]\n"
    "                    [--postgres-pool=N] [--hold-ttl-ms=N]\n"
    "Starts a private PostgreSQL and redis-server unless given; prints\n"
    "\"listening on http://127.0.0.1:PORT\" when ready; stops on SIGINT/SIGTERM.\n";

std::size_t positive(std::string_view name, const std::string& value) {
  std::size_t used = 0;
  const long long number = std::stoll(value, &used);
  if (used != value.size() || number <= 0) {
    throw std::invalid_argument(fmt::format("{} must be a positive integer", name));
  }
  return static_cast<std::size_t>(number);
}

}  // namespace

std::optional<ShopOptions> parse_shop_options(int argc, char** argv, bool& failed) {
  ShopOptions options;
  failed = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view argument = argv[i];
      if (argument == "--help") {
        std::fputs(kUsage.data(), stdout);
        return std::nullopt;
      }
      const auto equals = argument.find('=');
      if (argument.substr(0, 2) != "--" || equals == std::string_view::npos) {
        throw std::invalid_argument(fmt::format("unknown argument {}", argument));
      }
      const std::string_view name = argument.substr(2, equals - 2);
      const std::string value(argument.substr(equals + 1));
      if (name == "mode" && (value == "library" || value == "postgres")) {
        options.mode = value == "library" ? ShopMode::Library : ShopMode::Postgres;
      } else if (name == "port") {
        options.port = static_cast<int>(positive(name, value));
      } else if (name == "postgres") {
        options.postgres = value;
      } else if (name == "redis") {
        options.redis = value;
      } else if (name == "http-threads") {
        options.http_threads = positive(name, value);
      } else if (name == "redis-pool") {
        options.redis_pool = positive(name, value);
      } else if (name == "postgres-pool") {
        options.postgres_pool = positive(name, value);
      } else if (name == "hold-ttl-ms") {
        options.hold_ttl = std::chrono::milliseconds(positive(name, value));
      } else {
        throw std::invalid_argument(fmt::format("unknown argument {}", argument));
      }
    }
  } catch (const std::exception& error) {
    fmt::print(stderr, "shop_service: {}\n{}", error.what(), kUsage);
    failed = true;
    return std::nullopt;
  }
  return options;
}

}  // namespace shop
