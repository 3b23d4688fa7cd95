// StockReserver: all-or-nothing stock holds over the SKUs of one scope (one
// hot deal), each hold expiring after a TTL and giving its stock back.
//
// Every operation is one Lua script over the keys of one scope, all sharing
// the hash tag {scope}, so it works unchanged on Redis Cluster:
//
//   <prefix>:stock:{S}:state      string "open" | "closed" | "restoring" (absent: not loaded)
//   <prefix>:stock:{S}:initial    hash sku -> quantity loaded
//   <prefix>:stock:{S}:available  hash sku -> quantity free to reserve
//   <prefix>:stock:{S}:held       hash sku -> quantity in active holds
//   <prefix>:stock:{S}:confirmed  hash sku -> quantity sold for good
//   <prefix>:stock:{S}:holds      hash hold id -> items ("sku qty sku qty ...")
//   <prefix>:stock:{S}:deadlines  zset hold id -> expiry, ms since the epoch
//   <prefix>:stock:{S}:settled    hash hold id -> "confirmed|released|expired
//                                 <deadline ms> <items>" (the hold's terminal state;
//                                 deadline 0 for a hold restore_confirmed() recorded)
//   <prefix>:stock:{S}:events     stream of reserved / confirmed / released /
//                                 hold_expired / loaded / sale_closed / restored
//                                 events, each with the scope's `epoch`
//   <prefix>:stock:{S}:epoch      string the scope's incarnation
//   <prefix>:stock:{S}:payloads   hash hold id -> the host's payload (holds
//                                 reserved or restored with a non-empty one)
//   <prefix>:stock:{S}:opens_at   string ms since the Unix epoch before which
//                                 reserves answer NotOpen (absent: open now)
//
// Invariant, per SKU at every moment: initial = available + held + confirmed,
// and available >= 0 (nothing is ever oversold).
//
// Incarnations (epochs): every load() and restore starts a new epoch, the
// Redis server clock in microseconds since the Unix epoch (about 1.7e15,
// below 2^53), kept above the epoch the key held and, on restore, above the
// highest epoch the host names. Every event carries it, and so does every
// result (LoadResult, ReserveResult, ConfirmResult, ReleaseResult,
// ExtendResult, ReclaimResult, StockSnapshot). So
// (scope, epoch, hold id) names one hold for good even after Redis lost data
// and forgot which hold ids it had seen: the lost epoch was read from a clock
// before the loss, a restore's epoch after it. Persist confirmed holds
// idempotently on (scope, hold id): that is what restore() rebuilds from.
//
// What Redis losing data costs: confirmations Redis acknowledged and lost,
// whose `confirmed` event the host had not persisted, are sold again after a
// restore; holds that were active are forgotten (their stock is available
// again; confirming one answers UnknownHold). Every persisted confirmation is
// safe: after a restore, confirmed per SKU = the persisted holds' units,
// available = initial - confirmed, a retried confirm of a restored hold
// answers AlreadyConfirmed and a retried reserve AlreadyReserved. The
// procedure after a loss: begin_restore (reserve and settle now answer
// Restoring), let the StreamConsumer drain the scope's stream, read the
// persisted confirmed holds, restore_confirmed() them in batches of at most
// kMaxStockRestoredHoldsPerBatch, finish_restore(). restore() runs the three steps.
//
// Expiry is judged by the Redis server clock. A hold past its deadline is
// expired: every reserve first reclaims up to `reclaim_per_reserve` expired
// holds, reclaim_expired() (or a HoldReaper) sweeps, and confirm / release /
// extend expire the hold they touch. Each expiry appends exactly one
// `hold_expired` event {epoch, hold_id, items, expires_at, at[, payload]}.
//
// Host payloads: reserve() may store opaque bytes with the hold (an order id,
// a user id; at most max_payload_bytes, see kMaxStockPayloadBytesLimit), in
// the same script that creates it. hold() and confirm() return it, and the
// hold's `reserved`, `confirmed`, `released` and `hold_expired` events carry
// it as a last field `payload`, so a host needs no lookup of its own per
// order. An empty payload means none: nothing is stored, the events carry no
// `payload` field and the results hold an empty string. A payload lives as
// long as its hold id is remembered (below) and is never changed: a retried
// reserve keeps the first attempt's. A restore brings back the payloads of
// the confirmed holds it is given (RestoredHold::payload).
//
// Events of one hold, in stream order: `reserved`, then one of `confirmed`
// {reacquired=0}, `released`, `confirmed` {reacquired=1} (a confirm after
// the deadline of a hold nobody had expired yet: confirmed late, no
// `hold_expired`) or `hold_expired`; a `hold_expired` may be followed by
// `confirmed` {reacquired=1} when a later confirm took the stock again and
// the order stands. So a host consuming the events applies each hold's
// events in stream order and keeps the last: `hold_expired` cancels the
// order, a later `confirmed` reinstates it. (A host that cancels on
// `hold_expired` alone cancels orders that were paid.)
//
// Hold ids are remembered for the life of the loaded scope (until a reload
// with LoadMode::Replace, or a restore, which remembers the confirmed holds
// it is given): active in `holds`, then for good in `settled`. That
// is what makes every call idempotent under retry with the same hold id: a
// hold id reserves at most once, a retried confirm or release changes nothing.
// The cost is one `settled` entry per hold of the sale (tens of bytes plus the
// items, plus the payload when there is one); delete the scope's keys when its
// sale is over and written back.
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
#include "flashsale/export.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/preflight.hpp"

namespace flashsale {

// Hard limits the options may not exceed, so no script runs long.
inline constexpr std::size_t kMaxStockSkusPerCartLimit = 256;
inline constexpr std::size_t kMaxStockSkusPerScope = 10000;
inline constexpr std::size_t kMaxStockReclaimPerCallLimit = 10000;
// Most holds one restore_confirmed call takes.
inline constexpr std::size_t kMaxStockRestoredHoldsPerBatch = 1000;
// Largest max_payload_bytes (64 KiB): a hold's payload stays in Redis as long
// as the scope remembers the hold id.
inline constexpr std::size_t kMaxStockPayloadBytesLimit = 64 * 1024;

struct StockReserverOptions {
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // Most distinct SKUs in one reserve (1..kMaxStockSkusPerCartLimit).
  std::size_t max_skus_per_cart = 32;
  // Expired holds every reserve gives back first (0..max_reclaim_per_call).
  std::size_t reclaim_per_reserve = 16;
  // Largest `limit` reclaim_expired() accepts (1..kMaxStockReclaimPerCallLimit).
  std::size_t max_reclaim_per_call = 1000;
  // Longest hold TTL reserve() and extend() accept (at least 1 ms).
  std::chrono::milliseconds max_hold_ttl{std::chrono::hours(1)};
  // Approximate cap (XADD MAXLEN ~) of each scope's events stream; the
  // host's consumer must keep up or it misses the oldest events. 0 means no
  // cap; 0..kMaxStreamLengthLimit.
  std::size_t max_stream_length = 1'000'000;
  // Longest hold id, in bytes, 1..kMaxMemberIdBytesLimit (hold ids travel as
  // ARGV and may hold any bytes).
  std::size_t max_hold_id_bytes = 256;
  // Longest host payload of a hold, in bytes, 1..kMaxStockPayloadBytesLimit
  // (an empty payload, meaning none, is always allowed).
  std::size_t max_payload_bytes = 1024;
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
};

struct StockItem {
  std::string sku;            // a key id: 1..128 bytes, no braces, whitespace or control characters
  std::int64_t quantity = 0;  // units, 1..2^53
};

// A confirmed hold the host persisted, given back to restore_confirmed().
struct RestoredHold {
  std::string hold_id;           // 1..max_hold_id_bytes of any bytes
  std::vector<StockItem> items;  // distinct SKUs, as reserved
  // The hold's payload as its `confirmed` event carried it (0..max_payload_bytes
  // of any bytes; empty: none).
  std::string payload = {};
};

enum class LoadMode {
  FailIfLoaded,  // a loaded scope stays as it is (LoadStatus::AlreadyLoaded)
  Replace,       // starts the scope over: holds and remembered hold ids are dropped
};

enum class LoadStatus {
  Loaded,         // the stock is in place and the scope open
  AlreadyLoaded,  // FailIfLoaded and the scope was loaded: nothing changed
};

struct LoadResult {
  LoadStatus status = LoadStatus::AlreadyLoaded;
  std::int64_t epoch = 0;  // the scope's incarnation (new when Loaded)
};

enum class ReserveStatus {
  Reserved,
  // This hold id was reserved before (e.g. the first attempt timed out):
  // nothing changed; expires_at is that hold's deadline, whether it has since
  // been confirmed, released or expired.
  AlreadyReserved,
  InsufficientStock,  // short_sku names the first SKU without enough stock
  SaleClosed,
  Restoring,   // a restore of the scope runs: nothing changed, try again later
  UnknownSku,  // short_sku is not loaded in the scope (or the scope is not loaded)
  NotOpen,     // server time before the scope's opens_at (see load()): nothing changed
};

struct ReserveResult {
  ReserveStatus status = ReserveStatus::UnknownSku;
  // The hold's deadline by the server clock (Reserved, AlreadyReserved; none
  // for a hold restored by restore_confirmed).
  std::optional<std::chrono::system_clock::time_point> expires_at;
  std::optional<std::string> short_sku;
  std::int64_t epoch = 0;  // the scope's incarnation (0 when not loaded)
};

enum class ConfirmStatus {
  Confirmed,         // the active hold's stock is sold for good
  AlreadyConfirmed,  // a retry: nothing changed
  // Past its deadline: confirmed late while its stock was still held, or
  // taken again after it had expired (its stock was still available).
  Reacquired,
  Expired,    // the hold had expired and its stock is gone (or the sale is closed)
  Released,   // the hold was released by release(): nothing changed
  Restoring,  // a restore of the scope runs: nothing changed, try again later
  UnknownHold,
};

struct ConfirmResult {
  ConfirmStatus status = ConfirmStatus::UnknownHold;
  // Expired: a SKU that did not have the hold's quantity any more.
  std::optional<std::string> short_sku;
  std::int64_t epoch = 0;  // the scope's incarnation (0 when not loaded)
  // The payload the hold was reserved with, whatever the status (empty when
  // it has none, and for UnknownHold and Restoring).
  std::string payload = {};
};

enum class ReleaseStatus {
  Released,         // the stock is available again
  AlreadyReleased,  // a retry: nothing changed
  Expired,          // the hold had expired: its stock was already given back
  NotReleasable,    // the hold is confirmed
  Restoring,        // a restore of the scope runs: nothing changed, try again later
  UnknownHold,
};

struct ReleaseResult {
  ReleaseStatus status = ReleaseStatus::UnknownHold;
  std::int64_t epoch = 0;  // the scope's incarnation (0 when not loaded)
};

enum class ExtendStatus {
  Extended,       // the deadline is now + ttl
  Expired,        // too late: the hold had expired
  NotExtendable,  // the hold is confirmed or released
  Restoring,      // a restore of the scope runs: nothing changed, try again later
  UnknownHold,
};

struct ExtendResult {
  ExtendStatus status = ExtendStatus::UnknownHold;
  std::optional<std::chrono::system_clock::time_point> expires_at;  // Extended only
  std::int64_t epoch = 0;  // the scope's incarnation (0 when not loaded)
};

struct ReclaimResult {
  std::size_t reclaimed = 0;  // holds expired by this call
  bool more_due = false;      // expired holds remain (the call hit its limit)
  std::int64_t epoch = 0;     // the scope's incarnation (0 when not loaded)
};

// Restoring: between begin_restore() and finish_restore().
enum class SaleState { NotLoaded, Open, Closed, Restoring };

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
  std::int64_t epoch = 0;  // the scope's incarnation (0 when not loaded)
  // The opening time load() gave the scope, at millisecond precision; the
  // Unix epoch when it opened at load (or is not loaded).
  std::chrono::system_clock::time_point opens_at;
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

enum class HoldState {
  Active,     // holding stock; past expires_at it is expired but not yet swept
  Confirmed,  // permanent
  Released,   // given back by release()
  Expired,    // given back after its deadline
};

// One hold as hold() reads it.
struct HoldView {
  HoldState state = HoldState::Active;
  std::vector<StockItem> items;  // as reserved, in the order given
  // Its deadline (server clock); the Unix epoch for a hold recorded by
  // restore_confirmed() (its deadline was lost with the data).
  std::chrono::system_clock::time_point expires_at;
  std::string payload = {};  // as reserved (or restored); empty: none
};

class FLASHSALE_EXPORT StockReserver {
 public:
  // Validates the options (InvalidArgument) and checks the server's eviction
  // policy (see preflight.hpp). The client must outlive the reserver.
  explicit StockReserver(Client& client, StockReserverOptions options = {});

  // Puts the scope's stock in place and opens it. At most kMaxStockSkusPerScope
  // SKUs, each once. Retrying a FailIfLoaded load after a timeout may answer
  // AlreadyLoaded for the first attempt's own load: check with snapshot().
  // `opens_at` (as CouponTemplate::opens_at: judged by the Redis server clock,
  // millisecond precision, between the Unix epoch and 2^53 ms after it; the
  // Unix epoch, the default, means open now): until then reserve() answers
  // NotOpen, decided inside its script; confirm, release and extend are not
  // affected. The `loaded` event carries `opens_at` (ms) when it is set. A
  // load (Replace, to change it) sets it, and a restore given one (see
  // begin_restore).
  LoadResult load(std::string_view scope, const std::vector<StockItem>& stock,
                  LoadMode mode = LoadMode::FailIfLoaded,
                  std::chrono::system_clock::time_point opens_at = {});

  // Holds `items` (1..max_skus_per_cart distinct SKUs) for `ttl` (1 ms ..
  // max_hold_ttl), all or nothing. `hold_id` is 1..max_hold_id_bytes of any bytes.
  // `payload` (0..max_payload_bytes of any bytes; empty: none) is stored with
  // a Reserved hold and carried by its events (see host payloads above); an
  // AlreadyReserved retry stores nothing and the hold keeps its payload.
  ReserveResult reserve(std::string_view scope, std::string_view hold_id,
                        const std::vector<StockItem>& items, std::chrono::milliseconds ttl,
                        std::string_view payload = {});

  ConfirmResult confirm(std::string_view scope, std::string_view hold_id);
  ReleaseResult release(std::string_view scope, std::string_view hold_id);
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

  // Restore after Redis lost data (see the procedure at the top).
  //
  // Starts a new incarnation of the scope with `stock` (as load() takes it):
  // wipes its state in Redis (its events stream stays), puts the stock in
  // place with nothing held or confirmed and marks the scope restoring, so
  // reserve, confirm, release and extend answer Restoring until
  // finish_restore(). The epoch returned is above `after_epoch` (the highest
  // epoch the host persisted events of, 0 for none) and above the epoch Redis
  // holds. A begin_restore on a restoring scope starts over.
  // `opens_at` as load() takes it (the Unix epoch: open now); nullopt, the
  // default, keeps the scope's as Redis holds it, which after a loss of the
  // key is none (open now): a host restoring before the sale opens passes
  // the opening time again. finish_restore()'s `restored` event carries
  // `opens_at` (ms) when the scope has one. InvalidArgument before any I/O
  // for an opens_at outside [Unix epoch, 2^53 ms], as load().
  std::int64_t begin_restore(
      std::string_view scope, const std::vector<StockItem>& stock, std::int64_t after_epoch = 0,
      std::optional<std::chrono::system_clock::time_point> opens_at = std::nullopt);

  // Records confirmed holds (1..kMaxStockRestoredHoldsPerBatch per call, each
  // 1..kMaxStockSkusPerCartLimit distinct SKUs) into the restore of `epoch`: their
  // units move from available to confirmed and their ids are remembered as
  // confirmed, with their payloads. Idempotent: a hold already recorded with
  // the same items and payload adds nothing. InvalidArgument before any I/O
  // for bad ids, quantities, a payload over max_payload_bytes, a hold listed
  // twice, an empty or too large batch, an epoch < 1. ReplyError, nothing
  // written, when `epoch` is not being restored, a SKU is not in the stock, a
  // hold id was recorded with other items or payload, or the confirmed units of
  // a SKU would exceed its stock.
  void restore_confirmed(std::string_view scope, std::int64_t epoch,
                         const std::vector<RestoredHold>& holds);

  // Opens the scope under `epoch` and appends one `restored` event; returns
  // the scope's figures. A retry after it succeeded changes nothing;
  // ReplyError when `epoch` is not the scope's.
  StockSnapshot finish_restore(std::string_view scope, std::int64_t epoch);

  // begin_restore, restore_confirmed in batches, finish_restore, after
  // checking everything first (InvalidArgument before any I/O, as above, and
  // for confirmed units of a SKU beyond its stock or a SKU not in it).
  StockSnapshot restore(
      std::string_view scope, const std::vector<StockItem>& stock,
      const std::vector<RestoredHold>& confirmed, std::int64_t after_epoch = 0,
      std::optional<std::chrono::system_clock::time_point> opens_at = std::nullopt);

  const StockReserverOptions& options() const noexcept { return options_; }

  // What Redis knows of one hold now, read without changing anything (four
  // reads of one slot, pipelined); nullopt when the hold id was never
  // reserved in this scope (or the scope was reloaded or restored since; a
  // restore brings back the confirmed holds it was given). Validates scope
  // and hold id first (InvalidArgument, nothing sent).
  std::optional<HoldView> hold(std::string_view scope, std::string_view hold_id);

  // The name of the scope's events stream (`<prefix>:stock:{<scope>}:events`),
  // for the host's StreamConsumer. Validates the scope (InvalidArgument); no I/O.
  std::string events_stream(std::string_view scope) const;

 private:
  std::vector<std::string> keys(std::string_view scope) const;
  void validate_hold_id(std::string_view hold_id) const;
  void validate_ttl(std::chrono::milliseconds ttl) const;
  void validate_payload(std::string_view payload) const;
  void validate_restored_hold(const RestoredHold& hold) const;
  // Runs settle_hold.lua (ttl only for "extend") after validating the input.
  Reply settle(std::string_view action, std::string_view scope, std::string_view hold_id,
               std::chrono::milliseconds ttl);
  StockSnapshot read_snapshot(std::string_view scope, std::string_view mode);

  Client& client_;
  StockReserverOptions options_;
  KeySpace key_space_;
};

}  // namespace flashsale
