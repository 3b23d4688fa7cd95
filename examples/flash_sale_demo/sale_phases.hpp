// The two rushes of the demo: users racing for a coupon, and orders racing
// for the units of a hot deal.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "demo_options.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/stock_reserver.hpp"
#include "latency_recorder.hpp"
#include "progress.hpp"
#include "sale_database.hpp"

namespace demo {

struct CouponRushOutcome {
  std::int64_t attempts = 0;
  std::int64_t issued = 0;  // Issued replies
  std::int64_t users_issued_twice = 0;
  std::int64_t already_issued = 0;
  std::int64_t not_open = 0;
  std::int64_t sold_out = 0;
  std::int64_t transport_errors = 0;  // retried with the same user id
};

// Every user tries until the coupon is open, and some keep pressing the
// button afterwards. Stops early when `interrupted` becomes true.
CouponRushOutcome run_coupon_rush(flashsale::FirstComeCouponIssuer& issuer,
                                  const DemoOptions& options, LatencyRecorder& latency,
                                  Progress& progress, const std::atomic<bool>& interrupted);

struct StockSaleOutcome {
  std::int64_t reserved = 0;
  std::int64_t insufficient = 0;
  std::int64_t confirmed_orders = 0;
  std::int64_t late_confirms = 0;  // confirm found the hold expired (Reacquired or Expired)
  std::int64_t released = 0;
  std::int64_t abandoned = 0;
  std::int64_t transport_errors = 0;
  std::map<std::string, std::int64_t> confirmed_units;  // per SKU
};

struct SaleRecorders {
  LatencyRecorder reserve{"stock.reserve"};
  LatencyRecorder confirm{"stock.confirm"};
  LatencyRecorder release{"stock.release"};
  LatencyRecorder order_write{"sqlite order+outbox"};
  LatencyRecorder ranking_record{"ranking.record_many"};
};

std::vector<flashsale::StockItem> deal_stock(const DemoOptions& options);

// Orders reserve carts of 1-3 SKUs with short holds; each then confirms
// (order row + outbox record in one SQLite transaction, sales recorded in the
// ranking), releases, or abandons its hold. Shoppers also browse the catalog.
StockSaleOutcome run_stock_sale(flashsale::StockReserver& reserver, SaleDatabase& database,
                                flashsale::SlidingWindowRanking& ranking,
                                const DemoOptions& options, SaleRecorders& recorders,
                                Progress& progress, const std::atomic<bool>& interrupted);

}  // namespace demo
