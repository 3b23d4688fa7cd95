// ShardedCouponIssuer: one hot coupon spread over K sub-coupons (shards), so
// its issues run on up to K Redis Cluster masters instead of one, with exact
// totals.
//
// Each shard is a sub-coupon of FirstComeCouponIssuer (same scripts, keys and
// invariant per shard) with its own hash tag, the sub-coupon id
// "<coupon>#<shard>.<K>.<n>", where n is the smallest number that puts the
// tag's slot in the middle half of the shard-th of K equal slot ranges. A
// cluster of K masters that split the slots evenly (what `redis-cli --cluster
// create` does) then serves each shard from its own master; the issuer finds
// the tags by computing slots, without I/O. A user is routed to a home shard
// by a hash of the user id (FNV-1a 64, modulo K), so the per-user limit, the
// user's record and the user's sequence stay in one slot and one script.
//
// The coupon's total is split over the shards at registration. When the home
// shard runs out while other shards still hold stock, issue() moves a chunk
// (transfer_chunk units) from a donor shard to the home shard in three scripts:
//   1. take (donor slot): lowers the donor's total and stock by
//      min(chunk, stock) and records the transfer id -> {units, home, home
//      epoch} in the donor's `transfers` hash (units "in flight");
//   2. credit (home slot): raises the home's total and stock by the units,
//      once per transfer id (the id is kept in the home's `credited` hash);
//   3. finish (donor slot): deletes the record, in flight goes down.
// A process that dies between the steps leaves the units in flight, never
// lost: recover_transfers() completes every recorded transfer (any process may
// run it, any number of times, concurrently with the sale), and an issue()
// whose sweep found every donor empty runs it before it marks its shard sold
// out, so units in flight end up issued even when no host calls it. At all times
//   coupon total = sum over shards of (shard total + units in flight from it)
// and per shard, as for FirstComeCouponIssuer, total = remaining + issued.
// Transfers never move units a user holds.
//
// Refills: the threads of one issuer refill an empty shard one at a time (a
// mutex per shard); a caller that waited while another refilled tries the
// shard again instead of pulling a chunk of its own. A sweep visits the
// donors twice from a rotating start: first taking only from a donor that
// holds two chunks or more (a shard living on a chunk it just received is not
// robbed), then taking remnants.
//
// Sold-out marker: when the home shard is empty and a sweep of every donor
// found neither stock nor units in flight (on their way to some shard), no
// transfer was left to recover and this issuer finished none meanwhile, the
// home shard gets a `sold_out` marker (stock another process moved onto a
// shard the sweep had passed can then stay with that shard's users);
// later issues whose home is empty answer SoldOut after one more read in the
// home slot (no sweep). revoke() clears every shard's marker (after the unit
// went back), so a revoked unit can again be moved to any shard.
//
// First-come fairness: within a shard, arrival order is exact (one script per
// issue, sequences 1, 2, 3 ... per shard). Across shards it is approximate: a
// user who arrives after the last unit of their home shard went waits for a
// transfer (a few round trips), while users of another shard are served
// meanwhile; once every shard is empty, late users of a shard whose stock
// lasted longer can still have won over earlier users of an emptied shard up
// to the moment the sweep found nothing. No unit is issued twice and none is
// lost; what is approximate is only who, among near-simultaneous arrivals at
// the very end, gets the last units. README.md gives measured figures.
//
// Keys (prefix from the options, S = a sub-coupon id), besides the
// FirstComeCouponIssuer keys of every sub-coupon (coupon_issuer.hpp):
//   <prefix>:coupon:{S}:shard      hash   coupon_total, shards (registration)
//   <prefix>:coupon:{S}:transfers  hash   transfer id -> "units,home,home epoch"
//                                         (taken from S, not yet finished)
//   <prefix>:coupon:{S}:credited   hash   transfer id -> units (credited to S)
//   <prefix>:coupon:{S}:sold_out   string "1": every shard was found empty
// and in S's meta hash: in_flight (units taken from S not yet finished),
// moved_out and moved_in (units moved out of / into S this incarnation).
//
// Events: each shard appends to its own sub-coupon's stream (events_streams()
// lists them, index = shard); an event's `coupon` field is the sub-coupon id,
// which names the shard (shard_of_sub_coupon()). Sequences are per shard:
// (coupon, shard, epoch of the shard, sequence) names an issue for good.
//
// Restore: restore() runs FirstComeCouponIssuer's procedure on every shard
// (begin on all, then the units of each shard, then finish on all) and drops
// the transfers in flight: the restore gives every shard its restored units
// plus an even share of the units nobody holds, so the totals add up again.
// A credit carries the home epoch read before the take, and a credit to
// another epoch is dropped (the restore already counted those units).
//
// Thread-safety: share one ShardedCouponIssuer between threads when its
// Client is shareable (and do share it: the threads of one issuer refill an
// empty shard one at a time, K mutexes, instead of each pulling a chunk). Its
// mutable state is a cache of sub-coupon ids guarded by a mutex and those
// refill mutexes, held across the round trips of one refill.
//
// Errors: InvalidArgument for bad input or options, raised before any I/O;
// ConnectionError, TimeoutError, ReplyError and ProtocolError from the
// transport. After a TimeoutError in issue(), retry with the same user: the
// user's record is in one slot, so a retry reports AlreadyIssued with the
// original (shard, sequence). A transfer cut by an error stays in flight until
// recover_transfers() finishes it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/export.hpp"
#include "flashsale/preflight.hpp"

namespace flashsale {

// Most shards of one coupon.
inline constexpr std::size_t kMaxCouponShards = 64;
// Longest id of a sharded coupon, in bytes (the sub-coupon suffix must fit in
// the 128 bytes of a key id).
inline constexpr std::size_t kMaxShardedCouponIdBytes = 100;
// Most donor sweeps one issue() runs before it answers SoldOut.
inline constexpr std::size_t kMaxCouponTransferRoundsLimit = 16;

struct ShardedCouponIssuerOptions {
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // K, the number of shards, 1..kMaxCouponShards. Part of the sub-coupon ids:
  // an issuer with another K does not see the coupon (UnknownCoupon).
  std::size_t shards = 3;
  // Units one transfer moves at most, 1..2^53. Small chunks keep the stock
  // where the users are (fairer at the end), large ones need fewer transfers.
  std::int64_t transfer_chunk = 100;
  // Donor sweeps (each visiting the other shards until one gives units) one
  // issue() may run when its home shard is empty, 1..kMaxCouponTransferRoundsLimit.
  std::size_t max_transfer_rounds = 8;
  // As in FirstComeCouponIssuerOptions, for each shard's stream.
  std::size_t max_stream_length = 1'000'000;
  // As in FirstComeCouponIssuerOptions, 1..kMaxMemberIdBytesLimit.
  std::size_t max_user_id_bytes = 256;
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
};

enum class ShardedRegisterStatus {
  Created,       // at least one shard did not exist and was created with its share
  Updated,       // window or per-user limit changed on some shard
  Unchanged,     // every shard held this template already (a retry)
  TotalChanged,  // refused: the coupon exists with another total; nothing changed
  Restoring,     // refused on some shard: a restore runs
};

struct ShardedRegisterResult {
  ShardedRegisterStatus status = ShardedRegisterStatus::TotalChanged;
  // Per shard (index = shard): issued, remaining and epoch after the call.
  std::vector<RegisterResult> shards;
};

struct ShardedIssueResult {
  // As FirstComeCouponIssuer's, for the whole coupon: SoldOut only after the
  // home shard was empty and the donor sweeps found nothing.
  IssueStatus status = IssueStatus::UnknownCoupon;
  std::size_t shard = 0;       // the user's home shard (always set)
  std::int64_t sequence = 0;   // Issued / AlreadyIssued: the sequence within the shard
  std::int64_t remaining = 0;  // stock left in the home shard after the call
  std::int64_t epoch = 0;      // the home shard's incarnation
  std::size_t transfers = 0;   // transfers this call completed to serve the user
};

struct ShardedRevokeResult {
  RevokeResult result;  // as FirstComeCouponIssuer::revoke, on the home shard
  std::size_t shard = 0;
};

struct ShardStats {
  CouponStats coupon;          // the sub-coupon's own figures (total moves with transfers)
  std::int64_t in_flight = 0;  // units taken from this shard, transfer not finished
  std::int64_t moved_out = 0;  // units taken from this shard this incarnation
  std::int64_t moved_in = 0;   // units credited to this shard this incarnation
  std::int64_t transfers = 0;  // transfer records not finished (in flight)
  bool sold_out_marker = false;
};

struct ShardedCouponStats {
  // Sums over the shards. total = sum of shard totals + in_flight, which is
  // the registered total at all times (issued + remaining + in_flight).
  std::int64_t total = 0;
  std::int64_t issued = 0;
  std::int64_t remaining = 0;
  std::int64_t revoked = 0;
  std::int64_t in_flight = 0;
  bool restoring = false;
  std::vector<ShardStats> shards;  // index = shard
};

// A transfer taken from a donor and not yet finished (see take_stock()).
struct PendingTransfer {
  std::string id;
  std::size_t from = 0;
  std::size_t to = 0;
  std::int64_t units = 0;       // 0: the donor had nothing (no record was made)
  std::int64_t home_epoch = 0;  // the home shard's incarnation the credit must meet
};

enum class TransferStatus {
  Moved,      // the home shard was credited (now or before) and the record finished
  Stale,      // the home shard was restored since: the record was dropped, no credit
  Restoring,  // the home shard is being restored: left in flight
  Empty,      // nothing to move (the donor held no stock)
};

struct TransferOutcome {
  TransferStatus status = TransferStatus::Empty;
  std::int64_t units = 0;
};

struct TransferRecovery {
  std::size_t finished = 0;    // records completed (credited now or earlier) and removed
  std::int64_t units = 0;      // units of those records
  std::size_t stale = 0;       // records of an earlier incarnation, dropped
  std::size_t unfinished = 0;  // records left (the home shard is being restored)
};

// A persisted unit of a sharded coupon, as restore() takes it.
struct ShardedIssuedUser {
  std::string user;
  std::size_t shard = 0;  // must be the user's home shard (home_shard(user))
  std::int64_t sequence = 0;
};

class FLASHSALE_EXPORT ShardedCouponIssuer {
 public:
  // Validates the options (InvalidArgument, before any I/O), then runs
  // check_eviction_policy(client, options.eviction_check). The client must
  // outlive the issuer.
  explicit ShardedCouponIssuer(Client& client, ShardedCouponIssuerOptions options = {});

  // Creates the coupon: shard s gets total / K units, plus one for the first
  // total % K shards (a shard may start with 0). Idempotent; a retry after a
  // partial failure creates the shards that are missing. On an existing
  // coupon the window and per-user limit are replaced on every shard and the
  // total must be the registered one (else TotalChanged: changing the total
  // of a sharded coupon is not supported). coupon.id: 1..kMaxShardedCouponIdBytes.
  ShardedRegisterResult register_template(const CouponTemplate& coupon);

  // Issues one unit to `user_id` from its home shard, moving stock from the
  // other shards when the home shard is empty (see the top). One script in
  // the common case; SoldOut from an emptied coupon costs two reads of the
  // home slot.
  ShardedIssueResult issue(std::string_view coupon_id, std::string_view user_id);

  // As FirstComeCouponIssuer::revoke, on the user's home shard, then clears
  // every shard's sold-out marker when a unit went back.
  ShardedRevokeResult revoke(std::string_view coupon_id, std::string_view user_id,
                             std::string_view reason,
                             std::optional<std::int64_t> sequence = std::nullopt);

  // Per-shard snapshots (each atomic, not the sum: transfers may run between
  // them) summed; nullopt when no shard is registered.
  std::optional<ShardedCouponStats> stats(std::string_view coupon_id);

  // The step functions of a transfer, for rebalancing by hand and for tests.
  // take_stock runs the donor script: moves min(max_units, stock of `from`)
  // units into flight towards `to` (units 0: nothing taken, nothing recorded).
  // complete_transfer credits `to` once and finishes the record; safe to
  // repeat, and safe against a concurrent recover_transfers().
  // InvalidArgument for a shard >= K, from == to, max_units outside 1..2^53.
  PendingTransfer take_stock(std::string_view coupon_id, std::size_t from, std::size_t to,
                             std::int64_t max_units);
  TransferOutcome complete_transfer(std::string_view coupon_id, const PendingTransfer& transfer);

  // Completes every transfer left in flight (a process died between the
  // scripts, or a call failed): credits each recorded transfer once, then
  // removes its record. Idempotent; reads at most 1000 records per shard per
  // call (call again while `finished` is 1000).
  TransferRecovery recover_transfers(std::string_view coupon_id);

  // Restore after Redis lost data (coupon_issuer.hpp describes the steps):
  // every shard starts a new incarnation above `after_epoch` (the highest
  // epoch persisted over all shards), transfers in flight are dropped and
  // shard s gets its restored units plus an even share of total - all units.
  // InvalidArgument before any I/O for bad ids, a unit whose shard is not its
  // user's home shard, a unit listed twice, a user above per_user_limit, more
  // units than the total. Returns one result per shard.
  std::vector<CouponRestoreResult> restore(const CouponTemplate& coupon,
                                           const std::vector<ShardedIssuedUser>& units,
                                           std::int64_t after_epoch = 0);

  // The user's home shard, 0..K-1. Validates the user id; no I/O.
  std::size_t home_shard(std::string_view user_id) const;
  // The sub-coupon ids (index = shard) and their events streams; no I/O.
  std::vector<std::string> sub_coupon_ids(std::string_view coupon_id) const;
  std::vector<std::string> events_streams(std::string_view coupon_id) const;
  // The shard an event's `coupon` field names for this issuer's K, or nullopt
  // when it is not one of its sub-coupon ids.
  std::optional<std::size_t> shard_of_sub_coupon(std::string_view sub_coupon_id) const;

  const ShardedCouponIssuerOptions& options() const noexcept { return options_; }

 private:
  struct ShardKeys;
  // A coupon's sub-coupon ids, built once and shared: a call holds the list
  // it got (one reference count, no copy), whatever the cache does meanwhile.
  using SubIds = std::shared_ptr<const std::vector<std::string>>;
  SubIds sub_ids(std::string_view coupon_id) const;
  ShardKeys shard_keys(const std::string& sub_id) const;
  void validate_coupon_id(std::string_view coupon_id) const;
  void validate_shard(std::size_t shard, std::string_view what) const;
  PendingTransfer take(const std::vector<std::string>& ids, std::size_t from, std::size_t to,
                       std::int64_t max_units, std::int64_t home_epoch, std::int64_t least_stock,
                       std::int64_t* donor_in_flight);
  TransferOutcome complete(const std::vector<std::string>& ids, const PendingTransfer& transfer);
  // Sweeps the donors of an empty home shard once (under its refill lock);
  // true when the caller should try the home shard again.
  bool refill_shard(std::string_view coupon_id, const std::vector<std::string>& ids,
                    std::size_t home, ShardedIssueResult& result);
  bool sold_out_marked(const std::string& sub_id);
  void clear_sold_out_markers(const std::vector<std::string>& ids);

  Client& client_;
  ShardedCouponIssuerOptions options_;
  FirstComeCouponIssuer shard_issuer_;
  std::vector<std::mutex> refill_locks_;             // one per shard: one refill at a time
  std::vector<std::atomic<std::uint64_t>> refills_;  // refills done, per shard
  KeySpace key_space_;
  std::atomic<std::size_t> next_donor_{0};        // where sweeps start, rotating
  std::atomic<std::uint64_t> transfers_done_{0};  // credits this issuer made
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, SubIds> sub_id_cache_;
};

}  // namespace flashsale
