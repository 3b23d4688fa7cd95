#include "sale_phases.hpp"

#include <chrono>
#include <exception>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace demo {

namespace {

constexpr std::int64_t kPriceCents[] = {1999, 4999, 899, 12999, 2599, 599};

std::string sku_name(int index) {
  return fmt::format("sku-{}", index + 1);
}

// Runs `worker(thread_index)` on `threads` threads and joins them; the first
// exception a worker throws is rethrown here, after every thread has ended.
template <typename Worker>
void on_threads(int threads, Worker worker) {
  std::mutex failure_mutex;
  std::exception_ptr failure;
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int thread = 0; thread < threads; ++thread) {
    pool.emplace_back([&, thread] {
      try {
        worker(thread);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) {
          failure = std::current_exception();
        }
      }
    });
  }
  for (auto& thread : pool) {
    thread.join();
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
}

// Calls `operation` until it gets through the transport (every flashsale
// call is idempotent under retry with the same ids), for at most about 5 s
// or until the demo is interrupted; then the last error propagates.
template <typename Operation>
auto with_retry(std::int64_t& transport_errors, const std::atomic<bool>& interrupted,
                Operation operation) {
  constexpr int kAttempts = 250;
  for (int attempt = 1;; ++attempt) {
    try {
      return operation();
    } catch (const flashsale::ConnectionError&) {
      ++transport_errors;
      if (attempt == kAttempts || interrupted) {
        throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

}  // namespace

CouponRushOutcome run_coupon_rush(flashsale::FirstComeCouponIssuer& issuer,
                                  const DemoOptions& options, LatencyRecorder& latency,
                                  Progress& progress, const std::atomic<bool>& interrupted) {
  std::mutex merge_mutex;
  CouponRushOutcome total;
  latency.start();
  on_threads(options.threads, [&](int thread) {
    CouponRushOutcome mine;
    std::mt19937 random(static_cast<unsigned>(thread) * 7919U + 1U);
    for (int user = thread; user < options.users && !interrupted; user += options.threads) {
      const std::string user_id = fmt::format("user-{}", user);
      // Some users press the button again after their answer, up to 3 times.
      int extra_presses = random() % 10 < 3 ? 1 + static_cast<int>(random() % 3) : 0;
      int issued_to_user = 0;
      while (!interrupted) {
        const auto result = with_retry(mine.transport_errors, interrupted, [&] {
          return timed(latency, [&] { return issuer.issue(options.coupon_id, user_id); });
        });
        ++mine.attempts;
        if (result.status == flashsale::IssueStatus::NotOpen) {
          ++mine.not_open;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        if (result.status == flashsale::IssueStatus::Issued) {
          ++mine.issued;
          ++issued_to_user;
        } else if (result.status == flashsale::IssueStatus::AlreadyIssued) {
          ++mine.already_issued;
        } else if (result.status == flashsale::IssueStatus::SoldOut) {
          ++mine.sold_out;
        }
        if (extra_presses-- <= 0) {
          break;
        }
      }
      mine.users_issued_twice += issued_to_user > 1 ? 1 : 0;
      progress.advance();
    }
    const std::lock_guard<std::mutex> lock(merge_mutex);
    total.attempts += mine.attempts;
    total.issued += mine.issued;
    total.users_issued_twice += mine.users_issued_twice;
    total.already_issued += mine.already_issued;
    total.not_open += mine.not_open;
    total.sold_out += mine.sold_out;
    total.transport_errors += mine.transport_errors;
  });
  latency.finish();
  return total;
}

std::vector<flashsale::StockItem> deal_stock(const DemoOptions& options) {
  std::vector<flashsale::StockItem> stock;
  for (int sku = 0; sku < options.skus; ++sku) {
    stock.push_back({sku_name(sku), options.units_per_sku});
  }
  return stock;
}

StockSaleOutcome run_stock_sale(flashsale::StockReserver& reserver, SaleDatabase& database,
                                flashsale::SlidingWindowRanking& ranking,
                                const DemoOptions& options, SaleRecorders& recorders,
                                Progress& progress, const std::atomic<bool>& interrupted) {
  std::mutex merge_mutex;
  StockSaleOutcome total;
  for (auto* recorder : {&recorders.reserve, &recorders.confirm, &recorders.release,
                         &recorders.order_write, &recorders.ranking_record}) {
    recorder->start();
  }
  on_threads(options.threads, [&](int thread) {
    StockSaleOutcome mine;
    std::mt19937 random(static_cast<unsigned>(thread) * 104729U + 7U);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (int order = thread; order < options.orders && !interrupted; order += options.threads) {
      const std::string hold_id = fmt::format("order-{}", order);

      // Browsing: a few catalog views, skewed towards a popular head.
      std::vector<flashsale::RankingEvent> views;
      for (int view = 0, count = 1 + static_cast<int>(random() % 3); view < count; ++view) {
        const double skew = unit(random);
        const int product = static_cast<int>(options.catalog * skew * skew * skew);
        views.push_back({fmt::format("product-{}", product), "views", 1.0, std::nullopt});
      }

      // A cart of 1-3 distinct SKUs, 1-2 units each.
      std::vector<int> skus(static_cast<std::size_t>(options.skus));
      for (int sku = 0; sku < options.skus; ++sku) {
        skus[static_cast<std::size_t>(sku)] = sku;
      }
      std::shuffle(skus.begin(), skus.end(), random);
      const int lines = 1 + static_cast<int>(random() % std::min(3, options.skus));
      std::vector<flashsale::StockItem> cart;
      for (int line = 0; line < lines; ++line) {
        cart.push_back({sku_name(skus[static_cast<std::size_t>(line)]),
                        1 + static_cast<std::int64_t>(random() % 2)});
      }

      const auto reserved = with_retry(mine.transport_errors, interrupted, [&] {
        return timed(recorders.reserve, [&] {
          return reserver.reserve(options.deal_scope, hold_id, cart, options.hold_ttl);
        });
      });
      if (reserved.status != flashsale::ReserveStatus::Reserved) {
        mine.insufficient += reserved.status == flashsale::ReserveStatus::InsufficientStock;
      } else {
        ++mine.reserved;
        const int fate = static_cast<int>(random() % 100);
        if (fate < options.confirm_percent) {
          const auto confirmed = with_retry(mine.transport_errors, interrupted, [&] {
            return timed(recorders.confirm,
                         [&] { return reserver.confirm(options.deal_scope, hold_id); });
          });
          const bool sold = confirmed.status == flashsale::ConfirmStatus::Confirmed ||
                            confirmed.status == flashsale::ConfirmStatus::Reacquired;
          mine.late_confirms += confirmed.status == flashsale::ConfirmStatus::Reacquired ||
                                confirmed.status == flashsale::ConfirmStatus::Expired;
          if (sold) {
            ++mine.confirmed_orders;
            std::string items;
            std::int64_t units = 0;
            for (const auto& item : cart) {
              items += fmt::format("{}{}x{}", items.empty() ? "" : ",", item.quantity, item.sku);
              units += item.quantity;
              mine.confirmed_units[item.sku] += item.quantity;
              const auto price =
                  kPriceCents[static_cast<std::size_t>(std::stoi(item.sku.substr(4)) - 1) % 6];
              views.push_back(
                  {item.sku, "sales", static_cast<double>(item.quantity), std::nullopt});
              views.push_back(
                  {item.sku, "revenue", static_cast<double>(price * item.quantity), std::nullopt});
            }
            timed(recorders.order_write, [&] { database.record_order(hold_id, items, units); });
          }
        } else if (fate < options.confirm_percent + options.release_percent) {
          with_retry(mine.transport_errors, interrupted, [&] {
            return timed(recorders.release,
                         [&] { return reserver.release(options.deal_scope, hold_id); });
          });
          ++mine.released;
        } else {
          ++mine.abandoned;  // the hold expires and a reaper gives its stock back
        }
      }
      with_retry(mine.transport_errors, interrupted, [&] {
        return timed(recorders.ranking_record, [&] { return ranking.record_many(views); });
      });
      progress.advance();
    }
    const std::lock_guard<std::mutex> lock(merge_mutex);
    total.reserved += mine.reserved;
    total.insufficient += mine.insufficient;
    total.confirmed_orders += mine.confirmed_orders;
    total.late_confirms += mine.late_confirms;
    total.released += mine.released;
    total.abandoned += mine.abandoned;
    total.transport_errors += mine.transport_errors;
    for (const auto& [sku, units] : mine.confirmed_units) {
      total.confirmed_units[sku] += units;
    }
  });
  for (auto* recorder : {&recorders.reserve, &recorders.confirm, &recorders.release,
                         &recorders.order_write, &recorders.ranking_record}) {
    recorder->finish();
  }
  return total;
}

}  // namespace demo
