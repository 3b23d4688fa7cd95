// The demo's flags. Every size is a flag; the defaults finish in well under
// a minute on a 2-core machine.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace demo {

struct DemoOptions {
  std::string redis;          // host:port; empty starts a private redis-server
  std::string database = "";  // SQLite file; empty uses a temporary one
  int threads = 8;
  // Waiting room: the users are let in over about this many seconds.
  int room_seconds = 4;
  // Coupon rush.
  int users = 20000;
  int coupons = 1000;
  std::chrono::milliseconds coupon_opens_after{2000};
  // Hot deal.
  int skus = 3;
  int units_per_sku = 500;
  int orders = 5000;
  std::chrono::milliseconds hold_ttl{1000};
  int confirm_percent = 60;
  int release_percent = 20;  // the rest abandon their holds
  // Ranking.
  int catalog = 200;
  // /metrics is served on 127.0.0.1 at this port while the sale runs (0: a
  // free port, printed at start).
  int metrics_port = 0;
  bool help = false;
  // Ids of this run's coupon, deal scope, ranking and order stream, unique per
  // run so a shared --redis can host many runs. Set by main().
  std::string coupon_id;
  std::string deal_scope;
  std::string ranking_name;
  std::string order_stream;
};

// Parses argv; throws std::invalid_argument with a message for bad flags.
DemoOptions parse_options(int argc, char** argv);
const char* usage();

}  // namespace demo
