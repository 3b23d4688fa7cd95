#include "demo_options.hpp"

#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>

namespace demo {

namespace {

int parse_int(const std::string& flag, const std::string& text, int minimum, int maximum) {
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < minimum || value > maximum) {
    throw std::invalid_argument(flag + " needs a whole number from " + std::to_string(minimum) +
                                " to " + std::to_string(maximum) + ", got '" + text + "'");
  }
  return static_cast<int>(value);
}

}  // namespace

const char* usage() {
  return R"(flash_sale_demo: a whole flash sale on one machine, checking its own invariants.

Usage: flash_sale_demo [flags]

  --redis HOST:PORT        use this Redis (default: start a private redis-server
                           from PATH on a free loopback port, stopped at exit)
  --database FILE          SQLite database (default: a temporary file)
  --threads N              client threads (default 8)
  --users N                users rushing for the coupon (default 20000)
  --room-seconds N         the waiting room lets them in over about N seconds
                           (rate users / N per second; default 4)
  --coupons N              coupon units (default 1000)
  --opens-after-ms N       the coupon opens this long after start (default 2000)
  --skus N                 SKUs in the hot deal (default 3)
  --units-per-sku N        units of each SKU (default 500)
  --orders N               orders reserving carts (default 5000)
  --hold-ttl-ms N          how long a cart hold lasts (default 1000)
  --confirm-percent N      orders that confirm their hold (default 60)
  --release-percent N      orders that release it (default 20; the rest abandon it)
  --catalog N              products shoppers browse, for the ranking (default 200)
  --metrics-port N         serve Prometheus /metrics on 127.0.0.1:N while the
                           sale runs (default 0: a free port, printed at start)
  --help                   this text

Exit status: 0 when every invariant holds, 1 when one fails, 2 for bad flags.
)";
}

DemoOptions parse_options(int argc, char** argv) {
  DemoOptions options;
  const std::map<std::string, std::function<void(const std::string&)>> flags = {
      {"--redis", [&](const std::string& value) { options.redis = value; }},
      {"--database", [&](const std::string& value) { options.database = value; }},
      {"--threads",
       [&](const std::string& value) { options.threads = parse_int("--threads", value, 1, 256); }},
      {"--users",
       [&](const std::string& value) {
         options.users = parse_int("--users", value, 1, 10'000'000);
       }},
      {"--room-seconds",
       [&](const std::string& value) {
         options.room_seconds = parse_int("--room-seconds", value, 1, 3600);
       }},
      {"--coupons",
       [&](const std::string& value) {
         options.coupons = parse_int("--coupons", value, 1, 10'000'000);
       }},
      {"--opens-after-ms",
       [&](const std::string& value) {
         options.coupon_opens_after =
             std::chrono::milliseconds(parse_int("--opens-after-ms", value, 0, 600'000));
       }},
      {"--skus",
       [&](const std::string& value) { options.skus = parse_int("--skus", value, 1, 32); }},
      {"--units-per-sku",
       [&](const std::string& value) {
         options.units_per_sku = parse_int("--units-per-sku", value, 1, 100'000'000);
       }},
      {"--orders",
       [&](const std::string& value) {
         options.orders = parse_int("--orders", value, 1, 10'000'000);
       }},
      {"--hold-ttl-ms",
       [&](const std::string& value) {
         options.hold_ttl =
             std::chrono::milliseconds(parse_int("--hold-ttl-ms", value, 10, 600'000));
       }},
      {"--confirm-percent",
       [&](const std::string& value) {
         options.confirm_percent = parse_int("--confirm-percent", value, 0, 100);
       }},
      {"--release-percent",
       [&](const std::string& value) {
         options.release_percent = parse_int("--release-percent", value, 0, 100);
       }},
      {"--catalog",
       [&](const std::string& value) {
         options.catalog = parse_int("--catalog", value, 1, 1'000'000);
       }},
      {"--metrics-port",
       [&](const std::string& value) {
         options.metrics_port = parse_int("--metrics-port", value, 0, 65535);
       }},
  };
  for (int index = 1; index < argc; ++index) {
    std::string flag = argv[index];
    if (flag == "--help" || flag == "-h") {
      options.help = true;
      continue;
    }
    std::string value;
    const auto equals = flag.find('=');
    if (equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    } else if (index + 1 < argc) {
      value = argv[++index];
    }
    const auto found = flags.find(flag);
    if (found == flags.end()) {
      throw std::invalid_argument("unknown flag '" + flag + "' (see --help)");
    }
    found->second(value);
  }
  if (options.confirm_percent + options.release_percent > 100) {
    throw std::invalid_argument("--confirm-percent plus --release-percent must be at most 100");
  }
  return options;
}

}  // namespace demo
