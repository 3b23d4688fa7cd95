#include "flashsale/stock_reserver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"
#include "common/status_words.hpp"
#include "common/time_conversion.hpp"

namespace flashsale {

using detail::from_epoch_ms;
using detail::status_from_word;
using detail::StatusWord;

namespace {

constexpr std::string_view kComponent = "stock";
// The KEYS every stock script takes, in this order.
constexpr std::string_view kKeySuffixes[] = {"state",     "initial",   "available",
                                             "held",      "confirmed", "holds",
                                             "deadlines", "settled",   "events"};

// Appends "sku quantity" pairs after validating every item: a key id, a
// quantity in 1..2^53, each SKU once, at most `max_items`.
void append_items(const std::vector<StockItem>& items, std::size_t max_items, std::string_view what,
                  std::vector<std::string>& arguments) {
  if (items.empty()) {
    throw InvalidArgument(fmt::format("{} must hold at least one SKU", what));
  }
  if (items.size() > max_items) {
    throw InvalidArgument(
        fmt::format("{} holds {} SKUs, more than the limit of {}", what, items.size(), max_items));
  }
  std::set<std::string_view> seen;
  for (const auto& item : items) {
    validate_key_id(item.sku, "sku");
    validate_quantity(item.quantity, fmt::format("quantity of sku \"{}\"", item.sku));
    if (!seen.insert(item.sku).second) {
      throw InvalidArgument(fmt::format("{} names sku \"{}\" twice", what, item.sku));
    }
  }
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

StatusReply parse_status_reply(const Reply& reply, std::string_view script) {
  const auto& elements = reply.as_array();
  if (elements.size() != 3) {
    throw ProtocolError(fmt::format("{} replied {}", script, reply.describe()));
  }
  return {elements[0].as_string(), elements[1].as_integer(), elements[2].as_string()};
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
  if (options_.max_skus_per_cart < 1 || options_.max_skus_per_cart > kMaxSkusPerCartLimit) {
    throw InvalidArgument(fmt::format("max_skus_per_cart must be 1..{}", kMaxSkusPerCartLimit));
  }
  if (options_.max_reclaim_per_call < 1 ||
      options_.max_reclaim_per_call > kMaxReclaimPerCallLimit) {
    throw InvalidArgument(
        fmt::format("max_reclaim_per_call must be 1..{}", kMaxReclaimPerCallLimit));
  }
  if (options_.reclaim_per_reserve > options_.max_reclaim_per_call) {
    throw InvalidArgument("reclaim_per_reserve must not exceed max_reclaim_per_call");
  }
  if (options_.max_hold_ttl.count() < 1) {
    throw InvalidArgument("max_hold_ttl must be at least 1 ms");
  }
  if (options_.events_max_length < 1) {
    throw InvalidArgument("events_max_length must be at least 1");
  }
  if (options_.max_hold_id_bytes < 1 || options_.max_hold_id_bytes > kMaxMemberIdBytesLimit) {
    throw InvalidArgument(fmt::format("max_hold_id_bytes must be between 1 and {}, got {}",
                                      kMaxMemberIdBytesLimit, options_.max_hold_id_bytes));
  }
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

LoadStatus StockReserver::load(std::string_view scope, const std::vector<StockItem>& stock,
                               LoadMode mode) {
  ScriptCall call{&bundled_script("load_stock"), keys(scope), {}};
  call.arguments = {mode == LoadMode::Replace ? "replace" : "fail_if_loaded",
                    std::to_string(options_.events_max_length)};
  append_items(stock, kMaxSkusPerScope, "stock to load", call.arguments);
  return status_from_word("load_stock", client_.run_script(call).as_string(), kLoadStatuses);
}

ReserveResult StockReserver::reserve(std::string_view scope, std::string_view hold_id,
                                     const std::vector<StockItem>& items,
                                     std::chrono::milliseconds ttl) {
  ScriptCall call{&bundled_script("reserve_stock"), keys(scope), {}};
  validate_hold_id(hold_id);
  validate_ttl(ttl);
  call.arguments = {std::string(hold_id), std::to_string(ttl.count()),
                    std::to_string(options_.reclaim_per_reserve),
                    std::to_string(options_.events_max_length)};
  append_items(items, options_.max_skus_per_cart, "cart", call.arguments);

  const StatusReply reply = parse_status_reply(client_.run_script(call), "reserve_stock");
  ReserveResult result;
  result.expires_at = time_point_from_ms(reply.expires_at_ms);
  result.short_sku = non_empty(reply.sku);
  result.status = status_from_word("reserve_stock", reply.status, kReserveStatuses);
  return result;
}

Reply StockReserver::settle(std::string_view action, std::string_view scope,
                            std::string_view hold_id, std::chrono::milliseconds ttl) {
  validate_hold_id(hold_id);
  const ScriptCall call{&bundled_script("settle_hold"),
                        keys(scope),
                        {std::string(action), std::string(hold_id), std::to_string(ttl.count()),
                         std::to_string(options_.events_max_length)}};
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

ReleaseStatus StockReserver::release(std::string_view scope, std::string_view hold_id) {
  const StatusReply reply = parse_status_reply(
      settle("release", scope, hold_id, std::chrono::milliseconds(0)), "settle_hold");
  return status_from_word("settle_hold", reply.status, kReleaseStatuses);
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
  const ScriptCall call{&bundled_script("reclaim_expired_holds"),
                        keys(scope),
                        {std::to_string(limit), std::to_string(options_.events_max_length)}};
  const Reply reply = client_.run_script(call);
  const auto& elements = reply.as_array();
  if (elements.size() != 2 || elements[0].as_integer() < 0) {
    throw ProtocolError(fmt::format("reclaim_expired_holds replied {}", reply.describe()));
  }
  return {static_cast<std::size_t>(elements[0].as_integer()), elements[1].as_integer() != 0};
}

StockSnapshot StockReserver::end_sale(std::string_view scope) {
  return read_snapshot(scope, "close");
}

StockSnapshot StockReserver::snapshot(std::string_view scope) {
  return read_snapshot(scope, "read");
}

HoldExpiry StockReserver::hold_expiry(std::string_view scope) {
  const Reply reply = client_.run_script({&bundled_script("stock_hold_expiry"), keys(scope), {}});
  const auto& elements = reply.as_array();
  if (elements.size() != 2 || elements[0].as_integer() < 0) {
    throw ProtocolError(fmt::format("stock_hold_expiry replied {}", reply.describe()));
  }
  return {static_cast<std::size_t>(elements[0].as_integer()),
          std::chrono::milliseconds(std::max<std::int64_t>(0, elements[1].as_integer()))};
}

StockSnapshot StockReserver::read_snapshot(std::string_view scope, std::string_view mode) {
  const ScriptCall call{&bundled_script("stock_snapshot"),
                        keys(scope),
                        {std::string(mode), std::to_string(options_.events_max_length)}};
  const Reply reply = client_.run_script(call);
  const auto& elements = reply.as_array();
  if (elements.size() < 2 || (elements.size() - 2) % 5 != 0) {
    throw ProtocolError(fmt::format("stock_snapshot replied {}", reply.describe()));
  }
  StockSnapshot snapshot;
  snapshot.state = status_from_word("stock_snapshot", elements[0].as_string(), kSaleStates);
  snapshot.active_holds = static_cast<std::size_t>(elements[1].as_integer());
  for (std::size_t i = 2; i < elements.size(); i += 5) {
    snapshot.skus.push_back({elements[i].as_string(), elements[i + 1].as_integer(),
                             elements[i + 2].as_integer(), elements[i + 3].as_integer(),
                             elements[i + 4].as_integer()});
  }
  std::sort(snapshot.skus.begin(), snapshot.skus.end(),
            [](const SkuFigures& a, const SkuFigures& b) { return a.sku < b.sku; });
  return snapshot;
}

}  // namespace flashsale
