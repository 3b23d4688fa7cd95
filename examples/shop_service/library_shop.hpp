// The shop on flashsale: every hot-path decision is one Redis script
// (FirstComeCouponIssuer, StockReserver holds, SlidingWindowRanking);
// PostgreSQL gets the coupons through a batch consumer (CouponPersister), the
// confirmed order and its outbox record in one transaction, and the stock
// figures at the end of the sale.
#pragma once

#include <flashsale/client.hpp>
#include <flashsale/coupon_issuer.hpp>
#include <flashsale/periodic_thread.hpp>
#include <flashsale/sliding_window_ranking.hpp>
#include <flashsale/stock_reserver.hpp>

#include <chrono>
#include <memory>
#include <mutex>

#include "coupon_persister.hpp"
#include "pg_pool.hpp"
#include "sale_checks.hpp"
#include "shop_backend.hpp"

namespace shop {

class LibraryShop final : public ShopBackend {
 public:
  LibraryShop(flashsale::Client& redis, PgPool& pool, std::chrono::milliseconds hold_ttl);

  HttpReply create_sale(const SaleSpec& sale) override;
  HttpReply issue_coupon(const std::string& coupon, const std::string& user) override;
  HttpReply create_order(const std::string& sale, const std::string& user, const std::string& sku,
                         std::int64_t quantity) override;
  HttpReply confirm_order(const std::string& order_id) override;
  HttpReply ranking_top(std::size_t n) override;
  HttpReply end_sale(const std::string& sale) override;
  HttpReply check_sale(const std::string& sale) override;

 private:
  bool record_confirmed_order(const std::string& order_id, const std::string& sale,
                              const std::string& user, const flashsale::StockItem& item);
  // The sale's figures as Redis has them.
  StockSide redis_side(const std::string& sale);

  flashsale::Client& redis_;
  PgPool& pool_;
  std::chrono::milliseconds hold_ttl_;
  flashsale::FirstComeCouponIssuer coupons_;
  flashsale::StockReserver stock_;
  flashsale::SlidingWindowRanking ranking_;
  flashsale::PeriodicThread ranking_refresher_;
  std::mutex persister_mutex_;
  std::unique_ptr<CouponPersister> persister_;  // made with the first sale
};

}  // namespace shop
