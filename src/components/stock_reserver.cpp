#include "flashsale/stock_reserver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

#include "common/call_arguments.hpp"
#include "common/option_checks.hpp"
#include "common/script_reply.hpp"
#include "common/status_words.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"
#include "lua/scripts.hpp"

namespace flashsale {

using detail::from_epoch_ms;
using detail::status_from_word;
using detail::StatusWord;

namespace {

constexpr std::string_view kComponent = "stock";
// The KEYS every stock script takes, in this order.
constexpr std::array<std::string_view, 9> kKeySuffixes = {"state",     "initial",   "available",
                                                          "held",      "confirmed", "holds",
                                                          "deadlines", "settled",   "events"};

// Validates every item: a key id, a quantity in 1..2^53, each SKU once, at
// most `max_items`.
void validate_items(const std::vector<StockItem>& items, std::size_t max_items,
                    std::string_view what) {
  if (items.empty()) {
    throw InvalidArgument(fmt::format("{} must hold at least one SKU", what));
  }
  if (items.size() > max_items) {
    throw InvalidArgument(
        fmt::format("{} holds {} SKUs, more than the limit of {}", what, items.size(), max_items));
  }
  std::vector<std::string_view> skus;
  skus.reserve(items.size());
  for (const auto& item : items) {
    validate_key_id(item.sku, "sku");
    if (item.quantity < 1 || item.quantity > kMaxQuantity) {  // the message only when it fails
      validate_quantity(item.quantity, fmt::format("quantity of sku \"{}\"", item.sku));
    }
    skus.push_back(item.sku);
  }
  std::sort(skus.begin(), skus.end());
  const auto twice = std::adjacent_find(skus.begin(), skus.end());
  if (twice != skus.end()) {
    throw InvalidArgument(fmt::format("{} names sku \"{}\" twice", what, *twice));
  }
}

// Appends "sku quantity" pairs after validate_items.
void append_items(const std::vector<StockItem>& items, std::size_t max_items, std::string_view what,
                  std::vector<std::string>& arguments) {
  validate_items(items, max_items, what);
  for (const auto& item : items) {
    arguments.push_back(item.sku);
    arguments.push_back(std::to_string(item.quantity));
  }
}

std::optional<std::chrono::system_clock::time_point> time_point_from_ms(long long ms) {
  if (ms <= 0) {
    return std::nullopt;
  }
  return from_epoch_ms(ms);
}

std::optional<std::string> non_empty(const std::string& text) {
  if (text.empty()) {
    return std::nullopt;
  }
  return text;
}

// The { status, expires_at ms, sku } reply of reserve_stock and settle_hold.
struct StatusReply {
  std::string status;
  long long expires_at_ms = 0;
  std::string sku;
};

StatusReply parse_status_reply(Reply reply, std::string_view script) {
  detail::ReplyReader reader(std::move(reply), script, 3);
  StatusReply parsed;
  parsed.status = reader.text();
  parsed.expires_at_ms = reader.count();
  parsed.sku = reader.text();
  return parsed;
}

// How each script names the outcomes it replies.
constexpr StatusWord<LoadStatus> kLoadStatuses[] = {{"loaded", LoadStatus::Loaded},
                                                    {"already_loaded", LoadStatus::AlreadyLoaded}};
constexpr StatusWord<ReserveStatus> kReserveStatuses[] = {
    {"reserved", ReserveStatus::Reserved},
    {"already_reserved", ReserveStatus::AlreadyReserved},
    {"insufficient_stock", ReserveStatus::InsufficientStock},
    {"sale_closed", ReserveStatus::SaleClosed},
    {"unknown_sku", ReserveStatus::UnknownSku}};
constexpr StatusWord<ConfirmStatus> kConfirmStatuses[] = {
    {"confirmed", ConfirmStatus::Confirmed},
    {"already_confirmed", ConfirmStatus::AlreadyConfirmed},
    {"reacquired", ConfirmStatus::Reacquired},
    {"expired", ConfirmStatus::Expired},
    {"released", ConfirmStatus::Released},
    {"unknown_hold", ConfirmStatus::UnknownHold}};
constexpr StatusWord<ReleaseStatus> kReleaseStatuses[] = {
    {"released", ReleaseStatus::Released},
    {"already_released", ReleaseStatus::AlreadyReleased},
    {"expired", ReleaseStatus::Expired},
    {"not_releasable", ReleaseStatus::NotReleasable},
    {"unknown_hold", ReleaseStatus::UnknownHold}};
constexpr StatusWord<ExtendStatus> kExtendStatuses[] = {
    {"extended", ExtendStatus::Extended},
    {"expired", ExtendStatus::Expired},
    {"not_extendable", ExtendStatus::NotExtendable},
    {"unknown_hold", ExtendStatus::UnknownHold}};
constexpr StatusWord<SaleState> kSaleStates[] = {
    {"not_loaded", SaleState::NotLoaded}, {"open", SaleState::Open}, {"closed", SaleState::Closed}};

}  // namespace

StockReserver::StockReserver(Client& client, StockReserverOptions options)
    : client_(client), options_(std::move(options)), key_space_(options_.key_prefix) {
  detail::OptionChecks("StockReserverOptions")
      .between("max_skus_per_cart", options_.max_skus_per_cart, std::size_t{1},
               kMaxStockSkusPerCartLimit)
      .between("max_reclaim_per_call", options_.max_reclaim_per_call, std::size_t{1},
               kMaxStockReclaimPerCallLimit)
      .at_most("reclaim_per_reserve", options_.reclaim_per_reserve, options_.max_reclaim_per_call)
      .at_least("max_hold_ttl", options_.max_hold_ttl, std::chrono::milliseconds{1})
      .at_most("max_stream_length", options_.max_stream_length, kMaxStreamLengthLimit)
      .between("max_hold_id_bytes", options_.max_hold_id_bytes, std::size_t{1},
               kMaxMemberIdBytesLimit);
  require_single_slot(keys("probe"), "stock scripts");
  check_eviction_policy(client_, options_.eviction_check);
}

std::vector<std::string> StockReserver::keys(std::string_view scope) const {
  const std::string tagged = key_space_.tagged(kComponent, scope);
  std::vector<std::string> keys;
  keys.reserve(std::size(kKeySuffixes));
  for (const auto suffix : kKeySuffixes) {
    keys.push_back(fmt::format("{}:{}", tagged, suffix));
  }
  return keys;
}

void StockReserver::validate_hold_id(std::string_view hold_id) const {
  validate_member_id(hold_id, "hold id", options_.max_hold_id_bytes);
}

void StockReserver::validate_ttl(std::chrono::milliseconds ttl) const {
  if (ttl.count() < 1 || ttl > options_.max_hold_ttl) {
    throw InvalidArgument(fmt::format("hold ttl must be 1..{} ms, got {} ms",
                                      options_.max_hold_ttl.count(), ttl.count()));
  }
}

LoadResult StockReserver::load(std::string_view scope, const std::vector<StockItem>& stock,
                               LoadMode mode) {
  ScriptCall call{&detail::scripts::load_stock, keys(scope), {}};
  call.arguments = {mode == LoadMode::Replace ? "replace" : "fail_if_loaded",
                    std::to_string(options_.max_stream_length)};
  append_items(stock, kMaxStockSkusPerScope, "stock to load", call.arguments);
  return {status_from_word("load_stock", client_.run_script(call).as_string(), kLoadStatuses)};
}

ReserveResult StockReserver::reserve(std::string_view scope, std::string_view hold_id,
                                     const std::vector<StockItem>& items,
                                     std::chrono::milliseconds ttl) {
  // The keys in one allocation, the arguments as views (the quantities'
  // digits in one more): nothing else is copied on the way to the socket.
  const detail::KeySet<kKeySuffixes.size()> keys(key_space_, kComponent, scope, kKeySuffixes);
  validate_hold_id(hold_id);
  validate_ttl(ttl);
  validate_items(items, options_.max_skus_per_cart, "cart");
  const detail::Decimal ttl_ms(ttl.count());
  const detail::Decimal reclaim(static_cast<std::int64_t>(options_.reclaim_per_reserve));
  const detail::Decimal stream_cap(static_cast<std::int64_t>(options_.max_stream_length));
  std::vector<detail::Decimal> quantities;
  quantities.reserve(items.size());  // no reallocation below: the views stay put
  std::vector<std::string_view> arguments;
  arguments.reserve(4 + 2 * items.size());
  arguments.insert(arguments.end(), {hold_id, ttl_ms.view(), reclaim.view(), stream_cap.view()});
  for (const auto& item : items) {
    quantities.emplace_back(item.quantity);
    arguments.push_back(item.sku);
    arguments.push_back(quantities.back().view());
  }

  const StatusReply reply =
      parse_status_reply(client_.run_script(detail::scripts::reserve_stock,
                                            {keys.keys().data(), keys.keys().size()}, arguments),
                         "reserve_stock");
  ReserveResult result;
  result.expires_at = time_point_from_ms(reply.expires_at_ms);
  result.short_sku = non_empty(reply.sku);
  result.status = status_from_word("reserve_stock", reply.status, kReserveStatuses);
  return result;
}

Reply StockReserver::settle(std::string_view action, std::string_view scope,
                            std::string_view hold_id, std::chrono::milliseconds ttl) {
  validate_hold_id(hold_id);
  const ScriptCall call{&detail::scripts::settle_hold,
                        keys(scope),
                        {std::string(action), std::string(hold_id), std::to_string(ttl.count()),
                         std::to_string(options_.max_stream_length)}};
  return client_.run_script(call);
}

ConfirmResult StockReserver::confirm(std::string_view scope, std::string_view hold_id) {
  const StatusReply reply = parse_status_reply(
      settle("confirm", scope, hold_id, std::chrono::milliseconds(0)), "settle_hold");
  ConfirmResult result;
  result.short_sku = non_empty(reply.sku);
  result.status = status_from_word("settle_hold", reply.status, kConfirmStatuses);
  return result;
}

ReleaseResult StockReserver::release(std::string_view scope, std::string_view hold_id) {
  const StatusReply reply = parse_status_reply(
      settle("release", scope, hold_id, std::chrono::milliseconds(0)), "settle_hold");
  return {status_from_word("settle_hold", reply.status, kReleaseStatuses)};
}

ExtendResult StockReserver::extend(std::string_view scope, std::string_view hold_id,
                                   std::chrono::milliseconds ttl) {
  validate_ttl(ttl);
  const StatusReply reply =
      parse_status_reply(settle("extend", scope, hold_id, ttl), "settle_hold");
  ExtendResult result;
  result.expires_at = time_point_from_ms(reply.expires_at_ms);
  result.status = status_from_word("settle_hold", reply.status, kExtendStatuses);
  return result;
}

ReclaimResult StockReserver::reclaim_expired(std::string_view scope, std::size_t limit) {
  if (limit < 1 || limit > options_.max_reclaim_per_call) {
    throw InvalidArgument(
        fmt::format("reclaim limit must be 1..{}, got {}", options_.max_reclaim_per_call, limit));
  }
  const ScriptCall call{&detail::scripts::reclaim_expired_holds,
                        keys(scope),
                        {std::to_string(limit), std::to_string(options_.max_stream_length)}};
  detail::ReplyReader reply(client_.run_script(call), "reclaim_expired_holds", 2);
  ReclaimResult result;
  result.reclaimed = static_cast<std::size_t>(reply.count());
  result.more_due = reply.integer() != 0;
  return result;
}

StockSnapshot StockReserver::end_sale(std::string_view scope) {
  return read_snapshot(scope, "close");
}

StockSnapshot StockReserver::snapshot(std::string_view scope) {
  return read_snapshot(scope, "read");
}

StockSnapshot StockReserver::read_snapshot(std::string_view scope, std::string_view mode) {
  const ScriptCall call{&detail::scripts::stock_snapshot,
                        keys(scope),
                        {std::string(mode), std::to_string(options_.max_stream_length)}};
  detail::ReplyReader reply(client_.run_script(call), "stock_snapshot",
                            detail::ReplyReader::AtLeast{2});
  if (reply.remaining() % 5 != 2) {
    reply.fail("expected state, holds, then 5 figures per sku");
  }
  StockSnapshot snapshot;
  snapshot.state = reply.status(kSaleStates);
  snapshot.active_holds = static_cast<std::size_t>(reply.count());
  while (reply.remaining() > 0) {
    SkuFigures figures;
    figures.sku = reply.text();
    figures.initial = reply.integer();
    figures.available = reply.integer();
    figures.held = reply.integer();
    figures.confirmed = reply.integer();
    snapshot.skus.push_back(std::move(figures));
  }
  std::sort(snapshot.skus.begin(), snapshot.skus.end(),
            [](const SkuFigures& a, const SkuFigures& b) { return a.sku < b.sku; });
  return snapshot;
}

}  // namespace flashsale
