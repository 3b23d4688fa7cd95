// FirstComeCouponIssuer: first-come coupon issuance decided inside Redis.
//
// A coupon template has a fixed stock (`total`), a window [opens_at, closes_at)
// judged by the Redis server's clock, and a per-user limit. Every issue is one
// Lua script that checks the template, the user's count, the window and the
// stock, and only then takes one unit, gives the user the next arrival
// sequence (1, 2, 3 ... per coupon) and appends an `issued` event to the
// coupon's own stream. Many app servers can share one coupon without locks.
//
// Keys (prefix from FirstComeCouponIssuerOptions::key_prefix, default "fs"; T is the
// coupon id, its hash tag):
//   <prefix>:coupon:{T}:meta     hash   total, opens_at_ms, closes_at_ms, per_user_limit,
//                                       epoch, retired, restoring (while a restore runs)
//   <prefix>:coupon:{T}:stock    string units left to issue
//   <prefix>:coupon:{T}:issued   hash   user -> the sequences the user holds,
//                                       ascending, comma-separated ("17" or "17,93")
//   <prefix>:coupon:{T}:queue    zset   user -> the user's earliest held sequence
//   <prefix>:coupon:{T}:seq      string the last sequence handed out
//   <prefix>:coupon:{T}:revoked  string how many issues were revoked
//   <prefix>:coupon:{T}:events   stream `issued`, `revoked` and `restored` events
//
// Invariant, kept by every script at all times:
//   total = remaining + issued,  issued = seq - revoked - retired = the number
//   of held sequences over all users,  0 <= remaining,  no user holds more
//   than per_user_limit,  a sequence is handed out once per epoch and never
//   reused (`retired` counts the sequences of earlier incarnations that no
//   restored user holds).
//
// Incarnations (epochs): each coupon has an epoch, made when the template is
// first registered (RegisterStatus::Created) or restored, and carried in
// every event and result. It is the Redis server clock in microseconds since
// the Unix epoch when it was made (about 1.7e15, below 2^53), kept above every
// epoch the key held and, on restore, above the highest epoch the host names.
// Redis can lose data (a restart from an old RDB, a failover that lost the
// last writes) and hand the lost sequences out again: (coupon, sequence) is
// then not unique. (coupon, epoch, sequence) stays unique when every reopen
// after a loss goes through restore(): the lost epoch was read from a clock
// before the loss, the new one after it and above what the host persisted.
// A coupon registered by a version without epochs reports epoch 0.
//
// Events (fields in this order):
//   type=issued    coupon, epoch, user, sequence, issued_at_ms
//   type=revoked   coupon, epoch, user, sequence, reason, revoked_at_ms
//   type=restored  coupon, epoch, issued, sequence, restored_at_ms
//                  (a restore finished: `issued` units held, `sequence` the last)
// Times are milliseconds since the Unix epoch by the Redis server clock. The
// host persists them with a StreamConsumer, idempotently on
// (coupon, epoch, sequence), and keeps (coupon, user) unique when
// per_user_limit is 1: that row is what restore() rebuilds the coupon from.
//
// What Redis losing data costs, and the restore path: an issue Redis
// acknowledged and then lost, and whose event the host had not persisted, is
// unknown to everyone but the customer told "issued"; after a restore its unit
// is sold again (to another user, or to the same user a second time). Every
// issue the host persisted is safe: after restore() no user holding a
// persisted unit gets one more than per_user_limit allows, remaining = total -
// persisted units, and sequences go on after the highest persisted one. The
// procedure after a loss (or a suspected one: a restart without AOF
// `appendfsync always`, a failover):
//   1. epoch = begin_restore(template, highest epoch persisted): issue, revoke
//      and register now answer Restoring;
//   2. let the StreamConsumer drain the coupon's stream (events that survived
//      in Redis still reach the host), then read the persisted units;
//   3. restore_issued() them in batches of at most kMaxCouponRestoredUnitsPerBatch;
//   4. finish_restore(): the sale goes on under the new epoch.
// Noticing a loss: after a restart or failover, stats() reading nullopt, an
// epoch other than the one the host persisted last, or a last_sequence below
// the highest the host persisted under that epoch means Redis lost writes.
// (A loss of only unpersisted issues leaves no trace anywhere; treat every
// restart without AOF and every failover as a loss.)
// restore() runs steps 1, 3 and 4 for a host that has nothing left to drain.
// Draining includes the batch a consumer read before Redis died: rows that
// land after step 2 are users the restore does not know, who could then get a
// second unit. While a restore runs, stats() reports restoring and
// sequence_of() / issued_users() read the units restored so far.
//
// Thread-safety: a FirstComeCouponIssuer holds no mutable state; share one
// between threads when its Client is shareable (StandaloneClient is a pool).
//
// Errors: InvalidArgument for bad input, raised before any I/O (nothing sent);
// ConnectionError, TimeoutError, ReplyError and ProtocolError from the
// transport. After a TimeoutError the outcome is unknown: retry with the same
// coupon and user; a retried issue reports AlreadyIssued with the original
// sequence instead of issuing twice.
//
// Needs Redis 6.2 or newer (ZRANGE ... BYSCORE LIMIT in issued_users).
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

// Largest per_user_limit: a user's held sequences live in one hash field.
inline constexpr std::int64_t kMaxCouponPerUserLimit = 100;
// Longest revoke reason, in bytes (any bytes, empty allowed).
inline constexpr std::size_t kMaxCouponRevokeReasonBytes = 1024;
// Most entries one issued_users page returns.
inline constexpr std::size_t kMaxCouponIssuedPageSize = 1000;
// Most units one restore_issued call takes.
inline constexpr std::size_t kMaxCouponRestoredUnitsPerBatch = 1000;

struct CouponTemplate {
  std::string id;  // 1..128 bytes, no braces, whitespace or control characters
  // Units to issue, 1..2^53.
  std::int64_t total = 0;
  // The window [opens_at, closes_at), judged by the Redis server clock, kept at
  // millisecond precision; both between the Unix epoch and 2^53 ms after it,
  // opens_at strictly before closes_at.
  std::chrono::system_clock::time_point opens_at;
  std::chrono::system_clock::time_point closes_at;
  // How many units one user may hold at once, 1..kMaxCouponPerUserLimit.
  std::int64_t per_user_limit = 1;
};

struct FirstComeCouponIssuerOptions {
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // Cap of each coupon's events stream, applied with `XADD MAXLEN ~`: Redis
  // trims whole stream nodes only, so the stream holds at least this many
  // entries (a little more at times) and the oldest go first. Events not yet
  // read by the host's consumer are lost when trimmed, so keep the cap well
  // above what the consumer may lag behind. 0 means no cap;
  // 0..kMaxStreamLengthLimit.
  std::size_t max_stream_length = 1'000'000;
  // Longest user id, in bytes, 1..kMaxMemberIdBytesLimit (user ids travel as
  // ARGV and may hold any bytes; each is stored twice per holder and in every
  // event).
  std::size_t max_user_id_bytes = 256;
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
};

enum class RegisterStatus {
  Created,           // the template did not exist; stock = total
  Updated,           // metadata or total changed; stock moved by the difference in total
  Unchanged,         // the same template was registered again (a retry)
  TotalBelowIssued,  // refused: the new total is below the units issued now; nothing changed
  Restoring,         // refused: a restore of the coupon runs; nothing changed
};

struct RegisterResult {
  RegisterStatus status = RegisterStatus::TotalBelowIssued;
  std::int64_t issued = 0;     // units held by users now (0 for Restoring)
  std::int64_t remaining = 0;  // stock after the call (0 for Restoring)
  std::int64_t epoch = 0;      // the coupon's incarnation (new when Created)
};

enum class IssueStatus {
  Issued,         // one unit taken; `sequence` is the new arrival sequence
  AlreadyIssued,  // the user holds per_user_limit units; `sequence` is their latest
  SoldOut,        // no stock left
  NotOpen,        // server time before opens_at
  Closed,         // server time at or after closes_at
  Restoring,      // a restore of the coupon runs (see restore()): try again later
  UnknownCoupon,  // no template registered under this id
};

struct IssueResult {
  IssueStatus status = IssueStatus::UnknownCoupon;
  // Issued / AlreadyIssued: the arrival sequence (1-based, per coupon); else 0.
  std::int64_t sequence = 0;
  // Stock left after the call (0 for UnknownCoupon and Restoring).
  std::int64_t remaining = 0;
  // The coupon's incarnation (0 for UnknownCoupon): (coupon, epoch, sequence)
  // names an issue for good.
  std::int64_t epoch = 0;
};

enum class RevokeStatus {
  Revoked,        // the unit went back to stock and a `revoked` event was appended
  NotHeld,        // the user holds nothing (or not that sequence): nothing changed
  Restoring,      // a restore of the coupon runs: nothing changed, try again later
  UnknownCoupon,  // no template registered under this id
};

struct RevokeResult {
  RevokeStatus status = RevokeStatus::UnknownCoupon;
  std::int64_t sequence = 0;   // Revoked: the sequence taken back; else 0
  std::int64_t remaining = 0;  // stock after the call
  std::int64_t epoch = 0;      // the coupon's incarnation (0 for UnknownCoupon)
};

struct CouponStats {
  std::int64_t total = 0;
  std::int64_t issued = 0;         // units held by users now (issues minus revokes)
  std::int64_t remaining = 0;      // stock left
  std::int64_t revoked = 0;        // revokes in this incarnation
  std::int64_t epoch = 0;          // the coupon's incarnation
  std::int64_t last_sequence = 0;  // the last sequence handed out (0: none yet)
  bool restoring = false;          // a restore runs: issued and remaining are not final
};

// What finish_restore() and restore() report.
struct CouponRestoreResult {
  std::int64_t epoch = 0;          // the new incarnation
  std::int64_t issued = 0;         // units held after the restore
  std::int64_t remaining = 0;      // total - issued
  std::int64_t last_sequence = 0;  // the highest restored sequence; issues go on after it
};

// A user and a sequence: in an issued_users page the user's earliest held
// sequence; given to restore, one unit the host persisted.
struct IssuedUser {
  std::string user;
  std::int64_t sequence = 0;
};

struct IssuedPage {
  std::vector<IssuedUser> users;  // ascending by sequence
  // Pass as `after_sequence` for the next page; nullopt on the last page.
  std::optional<std::int64_t> next_after_sequence;
};

class FLASHSALE_EXPORT FirstComeCouponIssuer {
 public:
  // Runs check_eviction_policy(client, options.eviction_check) (one INFO,
  // cached by the client). Throws InvalidArgument for bad options. The client
  // must outlive the issuer.
  explicit FirstComeCouponIssuer(Client& client, FirstComeCouponIssuerOptions options = {});

  // Stores the template and its stock in Redis, so the hot path never reads
  // the host's database. Idempotent: registering the same template again
  // reports Unchanged. A new total moves the remaining stock by the
  // difference; a total below the units issued now is refused
  // (TotalBelowIssued) and nothing changes. Window and per-user limit are
  // replaced; users above a lowered limit keep what they hold.
  RegisterResult register_template(const CouponTemplate& coupon);

  // Issues one unit to `user_id` when the coupon exists, the user is below
  // the per-user limit, the server time is inside the window and stock is
  // left (checked in that order: a user holding the limit gets AlreadyIssued
  // even after the window closed or the stock ran out).
  IssueResult issue(std::string_view coupon_id, std::string_view user_id);

  // issue() for each user, pipelined on one connection: one result per user,
  // in order. All users are validated before anything is sent. The whole
  // batch is one pipeline: split batches of many thousands to bound memory. A user listed
  // twice is treated like two calls. Throws ReplyError when any entry failed
  // on the server; issued entries stay issued, and a retry of the whole
  // batch reports them AlreadyIssued.
  std::vector<IssueResult> issue_many(std::string_view coupon_id,
                                      const std::vector<std::string>& user_ids);

  // Compensation when the host finally fails to persist an issue: the unit
  // goes back to stock, the user's count drops by one (they may claim again
  // while the window is open) and a `revoked` event carrying `reason` is
  // appended. Takes back `sequence` when given, else the user's latest.
  // Idempotent with a sequence; without one, a retry reports NotHeld once the
  // user holds nothing (with per_user_limit > 1 pass the sequence, or a retry
  // takes back another unit).
  RevokeResult revoke(std::string_view coupon_id, std::string_view user_id, std::string_view reason,
                      std::optional<std::int64_t> sequence = std::nullopt);

  // One atomic snapshot; nullopt when the coupon is not registered.
  std::optional<CouponStats> stats(std::string_view coupon_id);

  // The user's latest held sequence; nullopt when they hold none.
  std::optional<std::int64_t> sequence_of(std::string_view coupon_id, std::string_view user_id);

  // Users holding the coupon, in arrival order, whose earliest held sequence
  // is greater than `after_sequence`; at most `limit` (1..kMaxCouponIssuedPageSize).
  // A cursor page: stable while issues and revokes go on.
  IssuedPage issued_users(std::string_view coupon_id, std::int64_t after_sequence = 0,
                          std::size_t limit = 100);

  // Restore after Redis lost data (see the procedure at the top). Each unit
  // the host persisted is one IssuedUser {user, sequence}; a user holding
  // several units appears once per unit.
  //
  // Starts a new incarnation of `coupon`: wipes its state in Redis (its events
  // stream stays), writes the template with no units held and marks it
  // restoring, so issue(), revoke() and register_template() answer Restoring
  // until finish_restore(). The epoch returned is above `after_epoch` (pass
  // the highest epoch the host persisted events of, 0 for none) and above the
  // epoch Redis holds. A begin_restore on a restoring coupon starts over.
  std::int64_t begin_restore(const CouponTemplate& coupon, std::int64_t after_epoch = 0);

  // Records persisted units (1..kMaxCouponRestoredUnitsPerBatch per call) into the
  // restore of `epoch`. Idempotent: a unit already recorded adds nothing, so a
  // batch may be retried. InvalidArgument before any I/O for bad ids, a
  // sequence outside 1..2^53, an empty or too large batch, an epoch < 1.
  // ReplyError, nothing written, when `epoch` is not being restored (another
  // begin_restore replaced it), when a user would hold more than
  // per_user_limit or when the units would exceed the total.
  void restore_issued(std::string_view coupon_id, std::int64_t epoch,
                      const std::vector<IssuedUser>& units);

  // Reopens the coupon under `epoch`: remaining = total - units recorded,
  // sequences go on after the highest recorded, one `restored` event is
  // appended. A retry after it succeeded replies the same figures (as they
  // are now); ReplyError when `epoch` is not the coupon's epoch.
  CouponRestoreResult finish_restore(std::string_view coupon_id, std::int64_t epoch);

  // begin_restore, restore_issued in batches, finish_restore, after checking
  // every unit first (InvalidArgument before any I/O: bad ids or sequences,
  // a unit listed twice, a user above per_user_limit, more units than total).
  CouponRestoreResult restore(const CouponTemplate& coupon, const std::vector<IssuedUser>& units,
                              std::int64_t after_epoch = 0);

  // The name of the coupon's events stream (`<prefix>:coupon:{<id>}:events`),
  // for the host's StreamConsumer. Validates the id (InvalidArgument); no I/O.
  std::string events_stream(std::string_view coupon_id) const;

  const FirstComeCouponIssuerOptions& options() const noexcept { return options_; }

 private:
  struct CouponKeys;
  CouponKeys keys_for(std::string_view coupon_id) const;
  void validate_user(std::string_view user_id) const;
  void validate_unit(const IssuedUser& unit) const;

  Client& client_;
  FirstComeCouponIssuerOptions options_;
  KeySpace key_space_;
};

}  // namespace flashsale
