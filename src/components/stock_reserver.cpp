#include "flashsale/stock_reserver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <iterator>
#include <map>
#include <set>
#include <system_error>
#include <utility>

#include "common/call_arguments.hpp"
#include "common/epoch_validation.hpp"
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
using detail::to_epoch_ms;
using detail::validate_epoch;
using detail::validate_epoch_ms;

namespace {

constexpr std::string_view kComponent = "stock";
// The KEYS every stock script takes, in this order.
constexpr std::array<std::string_view, 12> kKeySuffixes = {
    "state",     "initial", "available", "held",  "confirmed", "holds",
    "deadlines", "settled", "events",    "epoch", "payloads",  "opens_at"};
using ScopeKeys = detail::KeySet<kKeySuffixes.size()>;

// A decimal number in a hold record Redis keeps (ProtocolError otherwise).
std::int64_t parse_hold_number(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) {
    throw ProtocolError(fmt::format("stock reserver: malformed number in a hold: '{}'", text));
  }
  return value;
}

// A hold's items as reserve_stock.lua writes them: "sku quantity sku quantity ...".
std::vector<StockItem> parse_hold_items(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto space = std::min(text.find(' ', start), text.size());
    words.push_back(text.substr(start, space - start));
    start = space + 1;
  }
  if (words.empty() || words.size() % 2 != 0) {
    throw ProtocolError(fmt::format("stock reserver: malformed hold items: '{}'", text));
  }
  std::vector<StockItem> items;
  for (std::size_t i = 0; i < words.size(); i += 2) {
    items.push_back({std::string(words[i]), parse_hold_number(words[i + 1])});
  }
  return items;
}

// Throws InvalidArgument unless every item has a key id and a quantity in
// 1..2^53, each SKU once, 1..`max_items` of them.
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

// Appends "sku quantity" pairs after validate_items().
void append_items(const std::vector<StockItem>& items, std::size_t max_items, std::string_view what,
                  std::vector<std::string>& arguments) {
  validate_items(items, max_items, what);
  for (const auto& item : items) {
    arguments.push_back(item.sku);
    arguments.push_back(std::to_string(item.quantity));
  }
}

// "sku quantity" pairs as views after validate_items(), behind `leading`; the
// quantities' digits live in this object. Not copyable: the views stay put.
class ItemArguments {
 public:
  ItemArguments(std::initializer_list<std::string_view> leading,
                const std::vector<StockItem>& items) {
    quantities_.reserve(items.size());  // no reallocation below
    views_.reserve(leading.size() + 2 * items.size());
    views_.insert(views_.end(), leading);
    for (const auto& item : items) {
      quantities_.emplace_back(item.quantity);
      views_.push_back(item.sku);
      views_.push_back(quantities_.back().view());
    }
  }
  ItemArguments(const ItemArguments&) = delete;
  ItemArguments& operator=(const ItemArguments&) = delete;

  ArgumentViews views() const noexcept { return views_; }

 private:
  std::vector<detail::Decimal> quantities_;
  std::vector<std::string_view> views_;
};

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

// The { status, expires_at ms, sku, epoch } reply of reserve_stock and the
// { status, expires_at ms, sku, epoch, payload } reply of settle_hold.
struct StatusReply {
  std::string status;
  long long expires_at_ms = 0;
  std::string sku;
  std::int64_t epoch = 0;
  std::string payload;
};

StatusReply parse_status_reply(Reply reply, std::string_view script, bool with_payload) {
  detail::ReplyReader reader(std::move(reply), script, with_payload ? 5 : 4);
  StatusReply parsed;
  parsed.status = reader.text();
  parsed.expires_at_ms = reader.count();
  parsed.sku = reader.text();
  parsed.epoch = reader.count();
  if (with_payload) {
    parsed.payload = reader.text();
  }
  return parsed;
}

// The items text a hold is stored with: "sku qty sku qty ...".
std::string items_text(const std::vector<StockItem>& items) {
  std::string text;
  for (const auto& item : items) {
    fmt::format_to(std::back_inserter(text), "{}{} {}", text.empty() ? "" : " ", item.sku,
                   item.quantity);
  }
  return text;
}

// How each script names the outcomes it replies.
constexpr StatusWord<LoadStatus> kLoadStatuses[] = {{"loaded", LoadStatus::Loaded},
                                                    {"already_loaded", LoadStatus::AlreadyLoaded}};
constexpr StatusWord<ReserveStatus> kReserveStatuses[] = {
    {"reserved", ReserveStatus::Reserved},
    {"already_reserved", ReserveStatus::AlreadyReserved},
    {"insufficient_stock", ReserveStatus::InsufficientStock},
    {"sale_closed", ReserveStatus::SaleClosed},
    {"restoring", ReserveStatus::Restoring},
    {"unknown_sku", ReserveStatus::UnknownSku},
    {"not_open", ReserveStatus::NotOpen}};
constexpr StatusWord<ConfirmStatus> kConfirmStatuses[] = {
    {"confirmed", ConfirmStatus::Confirmed},
    {"already_confirmed", ConfirmStatus::AlreadyConfirmed},
    {"reacquired", ConfirmStatus::Reacquired},
    {"expired", ConfirmStatus::Expired},
    {"released", ConfirmStatus::Released},
    {"restoring", ConfirmStatus::Restoring},
    {"unknown_hold", ConfirmStatus::UnknownHold}};
constexpr StatusWord<ReleaseStatus> kReleaseStatuses[] = {
    {"released", ReleaseStatus::Released},   {"already_released", ReleaseStatus::AlreadyReleased},
    {"expired", ReleaseStatus::Expired},     {"not_releasable", ReleaseStatus::NotReleasable},
    {"restoring", ReleaseStatus::Restoring}, {"unknown_hold", ReleaseStatus::UnknownHold}};
constexpr StatusWord<ExtendStatus> kExtendStatuses[] = {
    {"extended", ExtendStatus::Extended},
    {"expired", ExtendStatus::Expired},
    {"not_extendable", ExtendStatus::NotExtendable},
    {"restoring", ExtendStatus::Restoring},
    {"unknown_hold", ExtendStatus::UnknownHold}};
constexpr StatusWord<SaleState> kSaleStates[] = {{"not_loaded", SaleState::NotLoaded},
                                                 {"open", SaleState::Open},
                                                 {"closed", SaleState::Closed},
                                                 {"restoring", SaleState::Restoring}};

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
               kMaxMemberIdBytesLimit)
      .between("max_payload_bytes", options_.max_payload_bytes, std::size_t{1},
               kMaxStockPayloadBytesLimit);
  require_single_slot(keys("probe"), "stock scripts");
  check_eviction_policy(client_, options_.eviction_check);
}

std::optional<HoldView> StockReserver::hold(std::string_view scope, std::string_view hold_id) {
  validate_hold_id(hold_id);
  const std::string holds = key_space_.key(kComponent, scope, "holds");
  const std::string deadlines = key_space_.key(kComponent, scope, "deadlines");
  const std::string settled = key_space_.key(kComponent, scope, "settled");
  const std::string payloads = key_space_.key(kComponent, scope, "payloads");
  const std::string id(hold_id);
  // In this order a hold settled between the reads is still found (settled
  // is read last; a payload never changes while its hold id is remembered).
  const auto replies = client_.execute_pipeline({{{"HGET", payloads, id}, payloads, {}},
                                                 {{"HGET", holds, id}, holds, {}},
                                                 {{"ZSCORE", deadlines, id}, deadlines, {}},
                                                 {{"HGET", settled, id}, settled, {}}});
  HoldView view;
  if (!replies.at(0).is_nil()) {
    view.payload = replies[0].as_string();
  }
  if (!replies.at(1).is_nil()) {
    view.state = HoldState::Active;
    view.items = parse_hold_items(replies[1].as_string());
    if (!replies.at(2).is_nil()) {
      view.expires_at = from_epoch_ms(static_cast<std::int64_t>(replies[2].as_double()));
    }
    return view;
  }
  if (replies.at(3).is_nil()) {
    return std::nullopt;
  }
  // Settled records are "<confirmed|released|expired> <deadline ms> <items>"
  // (deadline 0 for a hold recorded by restore_confirmed).
  const std::string& record = replies[3].as_string();
  const auto first = record.find(' ');
  const auto second = first == std::string::npos ? first : record.find(' ', first + 1);
  if (second == std::string::npos) {
    throw ProtocolError("stock reserver: malformed settled hold: " + record);
  }
  static constexpr StatusWord<HoldState> kSettledWords[] = {{"confirmed", HoldState::Confirmed},
                                                            {"released", HoldState::Released},
                                                            {"expired", HoldState::Expired}};
  view.state =
      status_from_word("stock reserver settled hold", record.substr(0, first), kSettledWords);
  view.expires_at = from_epoch_ms(
      parse_hold_number(std::string_view(record).substr(first + 1, second - first - 1)));
  view.items = parse_hold_items(std::string_view(record).substr(second + 1));
  return view;
}

std::string StockReserver::events_stream(std::string_view scope) const {
  return key_space_.key(kComponent, scope, "events");
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

void StockReserver::validate_payload(std::string_view payload) const {
  if (payload.size() > options_.max_payload_bytes) {
    throw InvalidArgument(fmt::format("hold payload holds {} bytes, more than the limit of {}",
                                      payload.size(), options_.max_payload_bytes));
  }
}

void StockReserver::validate_ttl(std::chrono::milliseconds ttl) const {
  if (ttl.count() < 1 || ttl > options_.max_hold_ttl) {
    throw InvalidArgument(fmt::format("hold ttl must be 1..{} ms, got {} ms",
                                      options_.max_hold_ttl.count(), ttl.count()));
  }
}

LoadResult StockReserver::load(std::string_view scope, const std::vector<StockItem>& stock,
                               LoadMode mode, std::chrono::system_clock::time_point opens_at) {
  const std::int64_t opens_at_ms = to_epoch_ms(opens_at);
  validate_epoch_ms(opens_at_ms, "opens_at");
  ScriptCall call{&detail::scripts::load_stock, keys(scope), {}};
  call.arguments = {mode == LoadMode::Replace ? "replace" : "fail_if_loaded",
                    std::to_string(options_.max_stream_length), std::to_string(opens_at_ms)};
  append_items(stock, kMaxStockSkusPerScope, "stock to load", call.arguments);
  detail::ReplyReader reply(client_.run_script(call), "load_stock", 2);
  LoadResult result;
  result.status = reply.status(kLoadStatuses);
  result.epoch = reply.count();
  return result;
}

ReserveResult StockReserver::reserve(std::string_view scope, std::string_view hold_id,
                                     const std::vector<StockItem>& items,
                                     std::chrono::milliseconds ttl, std::string_view payload) {
  // The keys in one allocation, the arguments as views (the quantities'
  // digits in one more): nothing else is copied on the way to the socket.
  const ScopeKeys keys(key_space_, kComponent, scope, kKeySuffixes);
  validate_hold_id(hold_id);
  validate_ttl(ttl);
  validate_items(items, options_.max_skus_per_cart, "cart");
  validate_payload(payload);
  const detail::Decimal ttl_ms(ttl.count());
  const detail::Decimal reclaim(static_cast<std::int64_t>(options_.reclaim_per_reserve));
  const detail::Decimal stream_cap(static_cast<std::int64_t>(options_.max_stream_length));
  const ItemArguments arguments(
      {hold_id, ttl_ms.view(), reclaim.view(), stream_cap.view(), payload}, items);

  const StatusReply reply = parse_status_reply(
      client_.run_script(detail::scripts::reserve_stock, keys.views(), arguments.views()),
      "reserve_stock", false);
  ReserveResult result;
  result.expires_at = time_point_from_ms(reply.expires_at_ms);
  result.short_sku = non_empty(reply.sku);
  result.status = status_from_word("reserve_stock", reply.status, kReserveStatuses);
  result.epoch = reply.epoch;
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
      settle("confirm", scope, hold_id, std::chrono::milliseconds(0)), "settle_hold", true);
  ConfirmResult result;
  result.short_sku = non_empty(reply.sku);
  result.status = status_from_word("settle_hold", reply.status, kConfirmStatuses);
  result.epoch = reply.epoch;
  result.payload = reply.payload;
  return result;
}

ReleaseResult StockReserver::release(std::string_view scope, std::string_view hold_id) {
  const StatusReply reply = parse_status_reply(
      settle("release", scope, hold_id, std::chrono::milliseconds(0)), "settle_hold", true);
  ReleaseResult result;
  result.status = status_from_word("settle_hold", reply.status, kReleaseStatuses);
  result.epoch = reply.epoch;
  return result;
}

ExtendResult StockReserver::extend(std::string_view scope, std::string_view hold_id,
                                   std::chrono::milliseconds ttl) {
  validate_ttl(ttl);
  const StatusReply reply =
      parse_status_reply(settle("extend", scope, hold_id, ttl), "settle_hold", true);
  ExtendResult result;
  result.expires_at = time_point_from_ms(reply.expires_at_ms);
  result.status = status_from_word("settle_hold", reply.status, kExtendStatuses);
  result.epoch = reply.epoch;
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
  detail::ReplyReader reply(client_.run_script(call), "reclaim_expired_holds", 3);
  ReclaimResult result;
  result.reclaimed = static_cast<std::size_t>(reply.count());
  result.more_due = reply.integer() != 0;
  result.epoch = reply.count();
  return result;
}

StockSnapshot StockReserver::end_sale(std::string_view scope) {
  return read_snapshot(scope, "close");
}

StockSnapshot StockReserver::snapshot(std::string_view scope) {
  return read_snapshot(scope, "read");
}

HoldExpiry StockReserver::hold_expiry(std::string_view scope) {
  detail::ReplyReader reply(
      client_.run_script({&detail::scripts::stock_hold_expiry, keys(scope), {}}),
      "stock_hold_expiry", 2);
  HoldExpiry expiry;
  expiry.expired_holds = static_cast<std::size_t>(reply.count());
  expiry.oldest_overdue = std::chrono::milliseconds(reply.count());
  return expiry;
}

void StockReserver::validate_restored_hold(const RestoredHold& hold) const {
  validate_hold_id(hold.hold_id);
  validate_items(hold.items, kMaxStockSkusPerCartLimit, "restored hold");
  validate_payload(hold.payload);
}

std::int64_t StockReserver::begin_restore(
    std::string_view scope, const std::vector<StockItem>& stock, std::int64_t after_epoch,
    std::optional<std::chrono::system_clock::time_point> opens_at) {
  const ScopeKeys keys(key_space_, kComponent, scope, kKeySuffixes);
  validate_epoch(after_epoch, 0, "after_epoch");
  validate_items(stock, kMaxStockSkusPerScope, "stock to restore");
  const std::int64_t opens_at_ms = opens_at ? to_epoch_ms(*opens_at) : 0;
  validate_epoch_ms(opens_at_ms, "opens_at");
  const detail::Decimal after(after_epoch);
  const detail::Decimal opens_at_text(opens_at_ms);
  const ItemArguments arguments(
      {"begin", after.view(), opens_at ? opens_at_text.view() : std::string_view{}}, stock);
  detail::ReplyReader reply(
      client_.run_script(detail::scripts::restore_stock, keys.views(), arguments.views()),
      "restore_stock begin", 2);
  if (reply.text() != "restoring") {
    reply.fail("expected restoring");
  }
  return reply.count();
}

void StockReserver::restore_confirmed(std::string_view scope, std::int64_t epoch,
                                      const std::vector<RestoredHold>& holds) {
  const ScopeKeys keys(key_space_, kComponent, scope, kKeySuffixes);
  validate_epoch(epoch, 1, "epoch");
  if (holds.empty() || holds.size() > kMaxStockRestoredHoldsPerBatch) {
    throw InvalidArgument(fmt::format("a restore batch holds 1..{} holds, got {}",
                                      kMaxStockRestoredHoldsPerBatch, holds.size()));
  }
  std::set<std::string_view> seen;
  for (const auto& hold : holds) {
    validate_restored_hold(hold);
    if (!seen.insert(hold.hold_id).second) {
      throw InvalidArgument("a restore batch lists a hold id twice");
    }
  }
  const detail::Decimal epoch_text(epoch);
  std::vector<std::string> items;
  items.reserve(holds.size());  // no reallocation below: the views stay put
  std::vector<std::string_view> arguments{"add", epoch_text.view()};
  arguments.reserve(2 + 3 * holds.size());
  for (const auto& hold : holds) {
    items.push_back(items_text(hold.items));
    arguments.push_back(hold.hold_id);
    arguments.push_back(items.back());
    arguments.push_back(hold.payload);
  }
  detail::ReplyReader reply(
      client_.run_script(detail::scripts::restore_stock, keys.views(), arguments),
      "restore_stock add", 2);
}

StockSnapshot StockReserver::finish_restore(std::string_view scope, std::int64_t epoch) {
  validate_epoch(epoch, 1, "epoch");
  const ScopeKeys keys(key_space_, kComponent, scope, kKeySuffixes);
  const detail::Decimal epoch_text(epoch);
  const detail::Decimal stream_cap(static_cast<std::int64_t>(options_.max_stream_length));
  detail::ReplyReader reply(client_.run_script(detail::scripts::restore_stock, keys.views(),
                                               {"finish", epoch_text.view(), stream_cap.view()}),
                            "restore_stock finish", 2);
  if (reply.text() != "restored") {
    reply.fail("expected restored");
  }
  return snapshot(scope);
}

StockSnapshot StockReserver::restore(
    std::string_view scope, const std::vector<StockItem>& stock,
    const std::vector<RestoredHold>& confirmed, std::int64_t after_epoch,
    std::optional<std::chrono::system_clock::time_point> opens_at) {
  validate_key_id(scope, "scope");
  validate_items(stock, kMaxStockSkusPerScope, "stock to restore");
  validate_epoch(after_epoch, 0, "after_epoch");
  if (opens_at) {
    validate_epoch_ms(to_epoch_ms(*opens_at), "opens_at");
  }
  std::map<std::string_view, std::int64_t> left;
  for (const auto& item : stock) {
    left[item.sku] = item.quantity;
  }
  std::set<std::string_view> seen;
  for (const auto& hold : confirmed) {
    validate_restored_hold(hold);
    if (!seen.insert(hold.hold_id).second) {
      throw InvalidArgument("the confirmed holds list a hold id twice");
    }
    for (const auto& item : hold.items) {
      const auto found = left.find(item.sku);
      if (found == left.end()) {
        throw InvalidArgument(
            fmt::format("a confirmed hold names sku \"{}\", which the stock lacks", item.sku));
      }
      found->second -= item.quantity;
      if (found->second < 0) {
        throw InvalidArgument(
            fmt::format("confirmed units of sku \"{}\" exceed its stock", item.sku));
      }
    }
  }
  const std::int64_t epoch = begin_restore(scope, stock, after_epoch, opens_at);
  for (std::size_t begin = 0; begin < confirmed.size(); begin += kMaxStockRestoredHoldsPerBatch) {
    const std::size_t end = std::min(confirmed.size(), begin + kMaxStockRestoredHoldsPerBatch);
    restore_confirmed(
        scope, epoch,
        std::vector<RestoredHold>(confirmed.begin() + static_cast<std::ptrdiff_t>(begin),
                                  confirmed.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return finish_restore(scope, epoch);
}

StockSnapshot StockReserver::read_snapshot(std::string_view scope, std::string_view mode) {
  const ScriptCall call{&detail::scripts::stock_snapshot,
                        keys(scope),
                        {std::string(mode), std::to_string(options_.max_stream_length)}};
  detail::ReplyReader reply(client_.run_script(call), "stock_snapshot",
                            detail::ReplyReader::AtLeast{4});
  if (reply.remaining() % 5 != 4) {
    reply.fail("expected state, holds, epoch, opens_at, then 5 figures per sku");
  }
  StockSnapshot snapshot;
  snapshot.state = reply.status(kSaleStates);
  snapshot.active_holds = static_cast<std::size_t>(reply.count());
  snapshot.epoch = reply.count();
  snapshot.opens_at = detail::from_epoch_ms(reply.count());
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
