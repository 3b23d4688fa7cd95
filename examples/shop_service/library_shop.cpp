#include "library_shop.hpp"

#include <fmt/core.h>
#include <flashsale/error.hpp>
#include <flashsale/postgres_outbox_store.hpp>

#include <cstdio>

#include "order_id.hpp"
#include "postgres_shop.hpp"
#include "replies.hpp"
#include "sale_checks.hpp"

namespace shop {
namespace {

using flashsale::ConfirmStatus;
using flashsale::IssueStatus;
using flashsale::ReserveStatus;

flashsale::SlidingWindowRankingOptions ranking_options() {
  flashsale::SlidingWindowRankingOptions options;
  options.name = "shop-sold";
  options.window = std::chrono::hours(1);
  options.bucket = std::chrono::minutes(1);
  options.metrics = {{"sold", 1.0}};
  return options;
}

}  // namespace

LibraryShop::LibraryShop(flashsale::Client& redis, PgPool& pool, std::chrono::milliseconds hold_ttl)
    : redis_(redis),
      pool_(pool),
      hold_ttl_(hold_ttl),
      coupons_(redis),
      stock_(redis),
      ranking_(redis, ranking_options()),
      ranking_refresher_(
          [this](const flashsale::PeriodicThread&) {
            try {
              ranking_.refresh();
            } catch (const flashsale::Error& error) {
              fmt::print(stderr, "shop_service: ranking refresh: {}\n", error.what());
            }
          },
          [] { return std::chrono::milliseconds(200); }) {}

HttpReply LibraryShop::create_sale(const SaleSpec& sale) {
  {
    auto lease = pool_.lease();
    if (!pg_transaction(lease.get(), [&] { return insert_sale_row(lease.get(), sale); })) {
      return json_reply(409, "error", "sale exists");
    }
  }
  const auto now = std::chrono::system_clock::now();
  coupons_.register_template({sale.name, sale.coupon_total, now - std::chrono::minutes(1),
                              now + std::chrono::hours(24), 1});
  std::vector<flashsale::StockItem> items;
  for (std::int64_t sku = 1; sku <= sale.skus; ++sku) {
    items.push_back({std::to_string(sku), sale.stock});
  }
  stock_.load(sale.name, items);
  const std::string stream = coupons_.events_stream(sale.name);
  std::lock_guard<std::mutex> lock(persister_mutex_);
  if (persister_) {
    persister_->add_stream(stream);
  } else {
    persister_ = std::make_unique<CouponPersister>(redis_, pool_, stream);
  }
  return json_reply(201, "sale", sale.name);
}

HttpReply LibraryShop::issue_coupon(const std::string& coupon, const std::string& user) {
  const auto result = coupons_.issue(coupon, user);
  switch (result.status) {
    case IssueStatus::Issued:
      return {201, fmt::format("{{\"status\":\"issued\",\"sequence\":{}}}", result.sequence)};
    case IssueStatus::AlreadyIssued:
      return json_reply(409, "status", "already_issued");
    case IssueStatus::SoldOut:
      return json_reply(410, "status", "sold_out");
    case IssueStatus::NotOpen:
    case IssueStatus::Closed:
      return json_reply(403, "status", "not_open");
    case IssueStatus::Restoring:
      return json_reply(503, "status", "restoring");
    case IssueStatus::UnknownCoupon:
      break;
  }
  return json_reply(404, "status", "unknown_coupon");
}

HttpReply LibraryShop::create_order(const std::string& sale, const std::string& user,
                                    const std::string& sku, std::int64_t quantity) {
  const std::string order_id = new_order_id(sale, user);
  const auto result = stock_.reserve(sale, order_id, {{sku, quantity}}, hold_ttl_);
  switch (result.status) {
    case ReserveStatus::Reserved:
    case ReserveStatus::AlreadyReserved:
      return json_reply(202, "order_id", order_id);
    case ReserveStatus::InsufficientStock:
      return json_reply(409, "status", "insufficient_stock");
    case ReserveStatus::SaleClosed:
      return json_reply(410, "status", "sale_closed");
    case ReserveStatus::NotOpen:
      return json_reply(403, "status", "not_open");
    case ReserveStatus::Restoring:
      return json_reply(503, "status", "restoring");
    case ReserveStatus::UnknownSku:
      break;
  }
  return json_reply(404, "status", "unknown_sku");
}

HttpReply LibraryShop::confirm_order(const std::string& order_id) {
  const auto parts = parse_order_id(order_id);
  if (!parts) {
    return json_reply(404, "status", "unknown_order");
  }
  switch (stock_.confirm(parts->sale, order_id).status) {
    case ConfirmStatus::Confirmed:
    case ConfirmStatus::AlreadyConfirmed:
    case ConfirmStatus::Reacquired:
      break;
    case ConfirmStatus::Expired:
    case ConfirmStatus::Released:
      return json_reply(410, "status", "expired");
    case ConfirmStatus::Restoring:
      return json_reply(503, "status", "restoring");
    case ConfirmStatus::UnknownHold:
      return json_reply(404, "status", "unknown_order");
  }
  // The hold's items: one more round trip (a hold cannot carry them back yet).
  const auto hold = stock_.hold(parts->sale, order_id);
  if (!hold || hold->items.empty()) {
    return json_reply(404, "status", "unknown_order");
  }
  const auto& item = hold->items.front();
  // A retry after a failed transaction finds the hold confirmed and writes the row then.
  if (record_confirmed_order(order_id, parts->sale, parts->user, item)) {
    ranking_.record(parts->sale + "." + item.sku, "sold", static_cast<double>(item.quantity),
                    std::nullopt, order_id);
  }
  return json_reply(200, "status", "confirmed");
}

bool LibraryShop::record_confirmed_order(const std::string& order_id, const std::string& sale,
                                         const std::string& user,
                                         const flashsale::StockItem& item) {
  auto lease = pool_.lease();
  PGconn* connection = lease.get();
  return pg_transaction(connection, [&] {
    const auto inserted =
        pg_execute(connection,
                   "INSERT INTO orders VALUES ($1, $2, $3, $4, $5, 'confirmed', "
                   "NULL) ON CONFLICT DO NOTHING RETURNING 1",
                   {order_id, sale, user, item.sku, std::to_string(item.quantity)});
    if (PQntuples(inserted.get()) == 0) {
      return false;
    }
    flashsale::PostgresOutboxStore::append(
        connection, {"order", order_id, "order_confirmed",
                     fmt::format("{{\"sku\":\"{}\",\"quantity\":{}}}", item.sku, item.quantity)});
    return true;
  });
}

HttpReply LibraryShop::ranking_top(std::size_t n) {
  const auto view = ranking_.top_or_fallback(n, [this](std::size_t count) {
    auto lease = pool_.lease();
    return top_from_orders(lease.get(), count);
  });
  return ranking_reply(view.source == flashsale::RankingSource::Redis ? "redis" : "database",
                       view.members);
}

HttpReply LibraryShop::end_sale(const std::string& sale) {
  const auto snapshot = stock_.end_sale(sale);
  const auto coupon = coupons_.stats(sale);
  auto lease = pool_.lease();
  PGconn* connection = lease.get();
  std::int64_t confirmed = 0;
  pg_transaction(connection, [&] {
    for (const auto& sku : snapshot.skus) {
      pg_execute(connection,
                 "INSERT INTO stock VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sale, sku) DO "
                 "UPDATE SET initial = $3, available = $4, held = $5, confirmed = $6",
                 {sale, sku.sku, std::to_string(sku.initial), std::to_string(sku.available),
                  std::to_string(sku.held), std::to_string(sku.confirmed)});
      confirmed += sku.confirmed;
    }
    if (coupon) {
      pg_execute(connection,
                 "INSERT INTO coupons VALUES ($1, $2, $3) ON CONFLICT (coupon_id) DO UPDATE "
                 "SET total = $2, remaining = $3",
                 {sale, std::to_string(coupon->total), std::to_string(coupon->remaining)});
    }
  });
  return {200, fmt::format("{{\"sale\":\"{}\",\"confirmed_units\":{}}}", sale, confirmed)};
}

HttpReply LibraryShop::check_sale(const std::string& sale) {
  auto lease = pool_.lease();
  return check_sale_rows(lease.get(), sale, [&] { return redis_side(sale); });
}

StockSide LibraryShop::redis_side(const std::string& sale) {
  StockSide side;
  for (const auto& sku : stock_.snapshot(sale).skus) {
    if (sku.available < 0 || sku.available + sku.held + sku.confirmed != sku.initial) {
      ++side.skus_out_of_balance;
    }
    side.confirmed_units += sku.confirmed;
    side.held_units += sku.held;
  }
  if (const auto coupon = coupons_.stats(sale)) {
    side.coupons_issued = coupon->issued;
    side.coupon_total = coupon->total;
  }
  return side;
}

}  // namespace shop
