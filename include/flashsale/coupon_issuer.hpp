// FirstComeCouponIssuer: first-come coupon issuance decided inside Redis.
//
// A coupon template has a fixed stock (`total`), a window [opens_at, closes_at)
// judged by the Redis server's clock, and a per-user limit. Every issue is one
// Lua script that checks the template, the user's count, the window and the
// stock, and only then takes one unit, gives the user the next arrival
// sequence (1, 2, 3 ... per coupon) and appends an `issued` event to the
// coupon's own stream. Many app servers can share one coupon without locks.
//
// Keys (prefix from CouponIssuerOptions::key_prefix, default "fs"; T is the
// coupon id, its hash tag):
//   <prefix>:coupon:{T}:meta     hash   total, opens_at_ms, closes_at_ms, per_user_limit
//   <prefix>:coupon:{T}:stock    string units left to issue
//   <prefix>:coupon:{T}:issued   hash   user -> the sequences the user holds,
//                                       ascending, comma-separated ("17" or "17,93")
//   <prefix>:coupon:{T}:queue    zset   user -> the user's earliest held sequence
//   <prefix>:coupon:{T}:seq      string the last sequence handed out
//   <prefix>:coupon:{T}:revoked  string how many issues were revoked
//   <prefix>:coupon:{T}:events   stream `issued` and `revoked` events
//
// Invariant, kept by every script at all times:
//   total = remaining + issued,  issued = seq - revoked = the number of held
//   sequences over all users,  0 <= remaining,  no user holds more than
//   per_user_limit,  a sequence is handed out once and never reused.
//
// Events (fields in this order):
//   type=issued   coupon, user, sequence, issued_at_ms
//   type=revoked  coupon, user, sequence, reason, revoked_at_ms
// Times are milliseconds since the Unix epoch by the Redis server clock. The
// host persists them with a StreamConsumer, idempotently on (coupon, sequence).
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
#include "flashsale/key_space.hpp"
#include "flashsale/preflight.hpp"

namespace flashsale {

// Largest per_user_limit: a user's held sequences live in one hash field.
inline constexpr std::int64_t kMaxCouponPerUserLimit = 100;
// Longest revoke reason, in bytes (any bytes, empty allowed).
inline constexpr std::size_t kMaxRevokeReasonBytes = 1024;
// Most entries one issued_users page returns.
inline constexpr std::size_t kMaxIssuedPageSize = 1000;

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

struct CouponIssuerOptions {
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // Cap of each coupon's events stream, applied with `XADD MAXLEN ~`: Redis
  // trims whole stream nodes only, so the stream holds at least this many
  // entries (a little more at times) and the oldest go first. Events not yet
  // read by the host's consumer are lost when trimmed, so keep the cap well
  // above what the consumer may lag behind. 0 means no cap.
  std::int64_t events_max_length = 1'000'000;
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
};

struct RegisterResult {
  RegisterStatus status = RegisterStatus::Created;
  std::int64_t issued = 0;     // units held by users now
  std::int64_t remaining = 0;  // stock after the call
};

enum class IssueStatus {
  Issued,         // one unit taken; `sequence` is the new arrival sequence
  AlreadyIssued,  // the user holds per_user_limit units; `sequence` is their latest
  SoldOut,        // no stock left
  NotOpen,        // server time before opens_at
  Closed,         // server time at or after closes_at
  UnknownCoupon,  // no template registered under this id
};

struct IssueResult {
  IssueStatus status = IssueStatus::UnknownCoupon;
  // Issued / AlreadyIssued: the arrival sequence (1-based, per coupon); else 0.
  std::int64_t sequence = 0;
  // Stock left after the call (0 for UnknownCoupon).
  std::int64_t remaining = 0;
};

enum class RevokeStatus {
  Revoked,        // the unit went back to stock and a `revoked` event was appended
  NotHeld,        // the user holds nothing (or not that sequence): nothing changed
  UnknownCoupon,  // no template registered under this id
};

struct RevokeResult {
  RevokeStatus status = RevokeStatus::UnknownCoupon;
  std::int64_t sequence = 0;   // Revoked: the sequence taken back; else 0
  std::int64_t remaining = 0;  // stock after the call
};

struct CouponStats {
  std::int64_t total = 0;
  std::int64_t issued = 0;     // units held by users now (issues minus revokes)
  std::int64_t remaining = 0;  // stock left
  std::int64_t revoked = 0;    // revokes ever
};

struct IssuedUser {
  std::string user;
  std::int64_t sequence = 0;  // the user's earliest held sequence
};

struct IssuedPage {
  std::vector<IssuedUser> users;  // ascending by sequence
  // Pass as `after_sequence` for the next page; nullopt on the last page.
  std::optional<std::int64_t> next_after_sequence;
};

class FirstComeCouponIssuer {
 public:
  // Runs check_eviction_policy(client, options.eviction_check) (one INFO,
  // cached by the client). Throws InvalidArgument for bad options. The client
  // must outlive the issuer.
  explicit FirstComeCouponIssuer(Client& client, CouponIssuerOptions options = {});

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
  // is greater than `after_sequence`; at most `limit` (1..kMaxIssuedPageSize).
  // A cursor page: stable while issues and revokes go on.
  IssuedPage issued_users(std::string_view coupon_id, std::int64_t after_sequence = 0,
                          std::size_t limit = 100);

  // The name of the coupon's events stream (`<prefix>:coupon:{<id>}:events`),
  // for the host's StreamConsumer. Validates the id (InvalidArgument); no I/O.
  std::string events_stream(std::string_view coupon_id) const;

 private:
  struct CouponKeys;
  CouponKeys keys_for(std::string_view coupon_id) const;
  void validate_user(std::string_view user_id) const;
  ScriptCall issue_call(const CouponKeys& keys, std::string_view coupon_id,
                        std::string_view user_id) const;

  Client& client_;
  CouponIssuerOptions options_;
  KeySpace key_space_;
};

}  // namespace flashsale
