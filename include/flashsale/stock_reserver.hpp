// StockReserver: all-or-nothing stock holds over the SKUs of one scope (one
// hot deal), each hold expiring after a TTL and giving its stock back.
//
// Every operation is one Lua script over the keys of one scope, all sharing
// the hash tag {scope}, so it works unchanged on Redis Cluster:
//
//   <prefix>:stock:{S}:state      string "open" | "closed" (absent: not loaded)
//   <prefix>:stock:{S}:initial    hash sku -> quantity loaded
//   <prefix>:stock:{S}:available  hash sku -> quantity free to reserve
//   <prefix>:stock:{S}:held       hash sku -> quantity in active holds
//   <prefix>:stock:{S}:confirmed  hash sku -> quantity sold for good
//   <prefix>:stock:{S}:holds      hash hold id -> items ("sku qty sku qty ...")
//   <prefix>:stock:{S}:deadlines  zset hold id -> expiry, ms since the epoch
//   <prefix>:stock:{S}:settled    hash hold id -> "confirmed|released|expired
//                                 <deadline ms> <items>" (the hold's terminal state)
//   <prefix>:stock:{S}:events     stream of reserved / confirmed / released /
//                                 hold_expired / loaded / sale_closed events
//
// Invariant, per SKU at every moment: initial = available + held + confirmed,
// and available >= 0 (nothing is ever oversold).
//
// Expiry is judged by the Redis server clock. A hold past its deadline is
// expired: every reserve first reclaims up to `reclaim_per_reserve` expired
// holds, reclaim_expired() (or a HoldReaper) sweeps, and confirm / release /
// extend expire the hold they touch. Each expiry appends exactly one
// `hold_expired` event {hold_id, items, expires_at, at}.
//
// Hold ids are remembered for the life of the loaded scope (until a reload
// with LoadMode::Replace): active in `holds`, then for good in `settled`. That
// is what makes every call idempotent under retry with the same hold id: a
// hold id reserves at most once, a retried confirm or release changes nothing.
// The cost is one `settled` entry per hold of the sale (tens of bytes plus the
// items); delete the scope's keys when its sale is over and written back.
//
// Thread-safety: shareable between threads when its Client is (StandaloneClient
// is a pool). Holds no mutable state of its own.
//
// Errors: InvalidArgument for bad input, raised before anything is sent;
// ConnectionError, TimeoutError, ReplyError, ProtocolError from the transport.
// After a TimeoutError the outcome is unknown: retry with the same hold id.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/preflight.hpp"

namespace flashsale {

// Hard limits the options may not exceed, so no script runs long.
inline constexpr std::size_t kMaxSkusPerCartLimit = 256;
inline constexpr std::size_t kMaxSkusPerScope = 10000;
inline constexpr std::size_t kMaxReclaimPerCallLimit = 10000;

struct StockReserverOptions {
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // Most distinct SKUs in one reserve (1..kMaxSkusPerCartLimit).
  std::size_t max_skus_per_cart = 32;
  // Expired holds every reserve gives back first (0..max_reclaim_per_call).
  std::size_t reclaim_per_reserve = 16;
  // Largest `limit` reclaim_expired() accepts (1..kMaxReclaimPerCallLimit).
  std::size_t max_reclaim_per_call = 1000;
  // Longest hold TTL reserve() and extend() accept (at least 1 ms).
  std::chrono::milliseconds max_hold_ttl{std::chrono::hours(1)};
  // Approximate cap (XADD MAXLEN ~) of the events stream; the host's consumer
  // must keep up or it misses the oldest events.
  std::size_t events_max_length = 1000000;
  // Longest hold id, in bytes, 1..kMaxMemberIdBytesLimit (hold ids travel as
  // ARGV and may hold any bytes).
  std::size_t max_hold_id_bytes = 256;
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
};

struct StockItem {
  std::string sku;            // a key id: 1..128 bytes, no braces, whitespace or control characters
  std::int64_t quantity = 0;  // units, 1..2^53
};

enum class LoadMode {
  FailIfLoaded,  // a loaded scope stays as it is (LoadStatus::AlreadyLoaded)
  Replace,       // starts the scope over: holds and remembered hold ids are dropped
};

enum class LoadStatus { Loaded, AlreadyLoaded };

enum class ReserveStatus {
  Reserved,
  // This hold id was reserved before (e.g. the first attempt timed out):
  // nothing changed; expires_at is that hold's deadline, whether it has since
  // been confirmed, released or expired.
  AlreadyReserved,
  InsufficientStock,  // short_sku names the first SKU without enough stock
  SaleClosed,
  UnknownSku,  // short_sku is not loaded in the scope (or the scope is not loaded)
};

struct ReserveResult {
  ReserveStatus status = ReserveStatus::UnknownSku;
  // The hold's deadline by the server clock (Reserved, AlreadyReserved).
  std::optional<std::chrono::system_clock::time_point> expires_at;
  std::optional<std::string> short_sku;
};

enum class ConfirmStatus {
  Confirmed,         // the active hold's stock is sold for good
  AlreadyConfirmed,  // a retry: nothing changed
  Reacquired,        // the hold had expired, its stock was still there and is sold now
  Expired,           // the hold had expired and its stock is gone (or the sale is closed)
  Released,          // the hold was released by release(): nothing changed
  UnknownHold,
};

struct ConfirmResult {
  ConfirmStatus status = ConfirmStatus::UnknownHold;
  // Expired: a SKU that did not have the hold's quantity any more.
  std::optional<std::string> short_sku;
};

enum class ReleaseStatus {
  Released,         // the stock is available again
  AlreadyReleased,  // a retry: nothing changed
  Expired,          // the hold had expired: its stock was already given back
  NotReleasable,    // the hold is confirmed
  UnknownHold,
};

enum class ExtendStatus {
  Extended,       // the deadline is now + ttl
  Expired,        // too late: the hold had expired
  NotExtendable,  // the hold is confirmed or released
  UnknownHold,
};

struct ExtendResult {
  ExtendStatus status = ExtendStatus::UnknownHold;
  std::optional<std::chrono::system_clock::time_point> expires_at;  // Extended only
};

struct ReclaimResult {
  std::size_t reclaimed = 0;  // holds expired by this call
  bool more_due = false;      // expired holds remain (the call hit its limit)
};

enum class SaleState { NotLoaded, Open, Closed };

// Units of one SKU; initial = available + held + confirmed.
struct SkuFigures {
  std::string sku;
  std::int64_t initial = 0;
  std::int64_t available = 0;
  std::int64_t held = 0;
  std::int64_t confirmed = 0;
};

struct StockSnapshot {
  SaleState state = SaleState::NotLoaded;
  // Holds not yet confirmed, released or expired by a reclaim: may include
  // some whose deadline passed and that no call has reclaimed yet.
  std::size_t active_holds = 0;
  std::vector<SkuFigures> skus;  // sorted by sku
};

// Holds past their deadline that no call has reclaimed yet (for metrics: a
// growing count or overdue age means nothing sweeps, see HoldReaper).
struct HoldExpiry {
  std::size_t expired_holds = 0;
  // Server time minus the oldest such deadline; zero when there is none.
  std::chrono::milliseconds oldest_overdue{0};
};

class StockReserver {
 public:
  // Validates the options (InvalidArgument) and checks the server's eviction
  // policy (see preflight.hpp). The client must outlive the reserver.
  explicit StockReserver(Client& client, StockReserverOptions options = {});

  // Puts the scope's stock in place and opens it. At most kMaxSkusPerScope
  // SKUs, each once. Retrying a FailIfLoaded load after a timeout may answer
  // AlreadyLoaded for the first attempt's own load: check with snapshot().
  LoadStatus load(std::string_view scope, const std::vector<StockItem>& stock,
                  LoadMode mode = LoadMode::FailIfLoaded);

  // Holds `items` (1..max_skus_per_cart distinct SKUs) for `ttl` (1 ms ..
  // max_hold_ttl), all or nothing. `hold_id` is 1..max_hold_id_bytes of any bytes.
  ReserveResult reserve(std::string_view scope, std::string_view hold_id,
                        const std::vector<StockItem>& items, std::chrono::milliseconds ttl);

  ConfirmResult confirm(std::string_view scope, std::string_view hold_id);
  ReleaseStatus release(std::string_view scope, std::string_view hold_id);
  // Sets an active hold's deadline to now + ttl (server clock). Appends no event.
  ExtendResult extend(std::string_view scope, std::string_view hold_id,
                      std::chrono::milliseconds ttl);

  // Expires at most `limit` (1..max_reclaim_per_call) holds whose deadline
  // has passed, oldest first.
  ReclaimResult reclaim_expired(std::string_view scope, std::size_t limit);

  // Closes the scope (later reserves get SaleClosed; closing twice is fine)
  // and returns its figures. Outstanding holds may still be confirmed,
  // released or expire; a later snapshot() shows the result.
  StockSnapshot end_sale(std::string_view scope);
  StockSnapshot snapshot(std::string_view scope);
  // One read-only script, O(log holds); a scope never loaded reports none.
  HoldExpiry hold_expiry(std::string_view scope);

  const StockReserverOptions& options() const noexcept { return options_; }

 private:
  std::vector<std::string> keys(std::string_view scope) const;
  void validate_hold_id(std::string_view hold_id) const;
  void validate_ttl(std::chrono::milliseconds ttl) const;
  // Runs settle_hold.lua (ttl only for "extend") after validating the input.
  Reply settle(std::string_view action, std::string_view scope, std::string_view hold_id,
               std::chrono::milliseconds ttl);
  StockSnapshot read_snapshot(std::string_view scope, std::string_view mode);

  Client& client_;
  StockReserverOptions options_;
  KeySpace key_space_;
};

}  // namespace flashsale
