// WaitingRoom: a fair first-come queue in front of a rush. Each visitor gets
// a ticket and sees an exact position and an estimated wait; visitors are let
// in at a rate and/or up to a cap of concurrently admitted visitors, and an
// admitted visitor gets a token the host verifies before it lets them buy.
//
// Every operation is one Lua script over the keys of one room, all sharing the
// hash tag {R}, so it works unchanged on Redis Cluster:
//
//   <prefix>:room:{R}:waiting   zset visitor -> ticket (rank = position)
//   <prefix>:room:{R}:seen      zset visitor -> last join/status, ms since the
//                               epoch (only when heartbeat_timeout is not 0)
//   <prefix>:room:{R}:active    zset visitor -> admission token expiry, ms
//   <prefix>:room:{R}:admitted  hash visitor -> "<ticket> <admitted at ms>"
//   <prefix>:room:{R}:state     hash: ticket counter, token secret, the
//                               admission bucket, the admission-rate
//                               measurement and the totals of stats()
//
// Tickets come from one counter: unique, and in the order the joins reached
// Redis. A visitor's position is the number of visitors with a lower ticket
// still waiting (ZRANK, O(log N)).
//
// Admission is judged by the Redis server clock, with no leader: every join(),
// status() and advance() (and so a WaitingRoomRunner, if the host runs one)
// first does the room's housekeeping, each part bounded by steps_per_call:
// expire admissions whose token TTL passed (the slot is free again), drop
// waiting visitors whose last join/status is older than heartbeat_timeout
// (abandoned: they lose their place and stop counting in others' positions),
// then admit the waiting visitors with the lowest tickets while the rate and
// the cap allow it.
//
// Invariants, by the server clock:
// - Visitors are admitted in ticket order (abandoned ones are skipped).
// - Rate: over any interval of T seconds at most burst + rate x T visitors
//   are admitted, where burst = max(1, rate x 1 s) (a token bucket that
//   holds one second of the rate; it starts full).
// - Cap: at no moment are more than max_active visitors admitted (admitted =
//   holding a token that neither expired nor was given back by leave/complete).
// - A visitor is in at most one of waiting and active; a retried or repeated
//   join keeps the ticket of a visitor who is still waiting or admitted.
//
// Tokens: "<ticket>.<expires at ms>.<40 hex>", the hex being
// SHA1(secret || SHA1(secret || ticket:expires:visitor)) with a secret per
// room that the room's first join makes, SHA1(128 bits the joining
// WaitingRoom drew from std::random_device || the state key's name), and
// keeps in the room's state hash. Only someone who can read the room's keys
// can forge one. verify() accepts a token only for the visitor and visit it was
// made for, before its expiry, while that admission is active. renew() makes
// a new token with a later expiry; earlier tokens of the same admission stay
// valid until their own expiry.
//
// What a failure can lose: nothing the server acknowledged when it runs with
// AOF (appendfsync always); a restart keeps every ticket, position and token.
// Time runs on while the server is down: visitors whose heartbeat or token
// outlives the downtime keep their place, others are abandoned/expired at the
// first call after the restart. Without persistence a restart empties the room.
//
// The rate, cap, TTL and heartbeat timeout travel with every call: every
// process serving one room must use the same options (two processes with
// different rates would each admit at up to their own rate).
//
// Thread-safety: shareable between threads when its Client is (StandaloneClient
// is a pool). Holds no mutable state of its own.
//
// Errors: InvalidArgument for bad input, raised before anything is sent;
// ConnectionError, TimeoutError, ReplyError, ProtocolError from the transport.
// Every call may be retried after a TimeoutError: join keeps the place,
// status/advance/renew/leave/complete/verify are safe to repeat.
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
inline constexpr std::size_t kMaxWaitingRoomStepsPerCallLimit = 10000;
inline constexpr double kMaxWaitingRoomAdmissionRateLimit = 1e6;
// The measured admission rate (estimated waits, stats) counts the admissions
// of the current and the previous window of this length.
inline constexpr std::chrono::milliseconds kWaitingRoomRateWindow{std::chrono::seconds(10)};

struct WaitingRoomOptions {
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // Visitors admitted per second, 0..kMaxWaitingRoomAdmissionRateLimit; fractions
  // allowed. 0: no rate limit.
  double admission_rate_per_second = 0;
  // Most visitors admitted at once. 0: no cap. With both 0 the room lets
  // everybody in at once.
  std::size_t max_active = 0;
  // How long an admission lasts without renew() (at least 1 ms): an admitted
  // visitor who neither completes nor renews within it frees the slot.
  std::chrono::milliseconds token_ttl{std::chrono::minutes(5)};
  // Nobody is admitted before this time (server clock); visitors may join and
  // queue up earlier. The epoch (default): admission is open from the start.
  std::chrono::system_clock::time_point admission_opens_at{};
  // A waiting visitor who has not called join()/status() for longer than this
  // loses the place. 0: waiting visitors are never dropped.
  std::chrono::milliseconds heartbeat_timeout{std::chrono::seconds(30)};
  // Most admissions, most abandoned visitors dropped and most admissions
  // expired by one call, each (1..kMaxWaitingRoomStepsPerCallLimit).
  std::size_t steps_per_call = 100;
  // Longest visitor id, in bytes, 1..kMaxMemberIdBytesLimit (visitor ids
  // travel as ARGV and may hold any bytes).
  std::size_t max_visitor_id_bytes = 256;
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
};

enum class VisitorState {
  Waiting,   // in line: ticket, position and estimated_wait are set
  Admitted,  // let in: ticket, token, admitted_at and expires_at are set
  // Not in the room: never joined, left, completed, abandoned (heartbeat
  // timeout) or the admission expired. join() again for a place at the back.
  NotInRoom,
};

struct VisitorStatus {
  VisitorState state = VisitorState::NotInRoom;
  std::uint64_t ticket = 0;    // 1, 2, ... per room in arrival order; 0 when NotInRoom
  std::uint64_t position = 0;  // Waiting: visitors ahead of this one still waiting
  // Waiting: (position + 1) / the measured admission rate (the configured
  // rate until 1 s was measured, and before admission_opens_at, plus the
  // time left until then); nullopt when no rate is known or the measured
  // rate is 0 (nobody was admitted lately, e.g. the cap is full).
  std::optional<std::chrono::milliseconds> estimated_wait;
  std::string token;  // Admitted: what verify() checks
  std::optional<std::chrono::system_clock::time_point> admitted_at;  // server clock
  std::optional<std::chrono::system_clock::time_point> expires_at;   // of the token
  // join() only: this call drew the ticket (false for a retry or a reload).
  bool new_ticket = false;
};

enum class VerifyStatus {
  Valid,    // the token is this visitor's, of the current admission, not expired
  Expired,  // genuine, but past its expiry (or the admission expired)
  Revoked,  // genuine, but the visitor has left or completed since
  Invalid,  // forged, malformed, another visitor's, another room's or an earlier visit's
};

enum class RenewStatus {
  Renewed,      // token and expires_at are new: now + token_ttl
  NotAdmitted,  // waiting, not in the room, or the admission already expired
};

struct RenewResult {
  RenewStatus status = RenewStatus::NotAdmitted;
  std::string token;
  std::optional<std::chrono::system_clock::time_point> expires_at;
};

enum class LeaveStatus {
  LeftQueue,  // was waiting: the place is given up
  FreedSlot,  // was admitted: the slot is free for the next visitor
  NotInRoom,  // nothing to do (also a retry of an earlier leave/complete)
};

enum class CompleteStatus {
  Completed,    // the slot is free
  NotAdmitted,  // changed nothing: waiting, not in the room, expired, or a retry
};

// What one call's housekeeping did.
struct AdvanceResult {
  std::size_t admitted = 0;
  std::size_t abandoned = 0;  // waiting visitors dropped for a missed heartbeat
  std::size_t expired = 0;    // admissions whose token TTL passed
  bool more_due = false;      // a part hit steps_per_call: call again
};

struct RoomStats {
  // Waiting, including abandoned visitors no call has dropped yet.
  std::size_t waiting = 0;
  // Admitted, including expired admissions no call has expired yet.
  std::size_t active = 0;
  std::uint64_t tickets = 0;  // drawn since the room began
  std::uint64_t admitted_total = 0;
  std::uint64_t abandoned_total = 0;
  std::uint64_t expired_total = 0;
  std::uint64_t completed_total = 0;
  std::uint64_t left_total = 0;  // leave(), waiting or admitted
  // Admissions per second over the last one to two kWaitingRoomRateWindow;
  // nullopt until at least 1 s has been measured.
  std::optional<double> measured_rate_per_second;
};

class FLASHSALE_EXPORT WaitingRoom {
 public:
  // Validates the options (InvalidArgument) and checks the server's eviction
  // policy (see preflight.hpp). The client must outlive the room.
  explicit WaitingRoom(Client& client, WaitingRoomOptions options = {});

  // Takes a place at the back, or for a visitor already waiting or admitted
  // reports that place unchanged (and counts as a heartbeat). The room needs
  // no set-up: the first join creates it. The reply is never NotInRoom.
  VisitorStatus join(std::string_view room, std::string_view visitor);
  // Where the visitor stands; for a waiting visitor it is the heartbeat that
  // keeps the place. Changes nothing for a visitor not in the room.
  VisitorStatus status(std::string_view room, std::string_view visitor);
  // The housekeeping of join/status alone (what a WaitingRoomRunner calls).
  AdvanceResult advance(std::string_view room);

  // Checks a token an admitted visitor presents. Read-only. A token that is
  // not of the token form (empty, too long, bad characters) is Invalid and
  // sends nothing: tokens come from outside and are no programming error.
  VerifyStatus verify(std::string_view room, std::string_view visitor, std::string_view token);
  // Extends an admission to now + token_ttl and returns the new token.
  RenewResult renew(std::string_view room, std::string_view visitor);
  // An admitted visitor is done (bought, or gave up at checkout): the slot is
  // free for the next visitor.
  CompleteStatus complete(std::string_view room, std::string_view visitor);
  // Gives up the place (waiting) or the slot (admitted).
  LeaveStatus leave(std::string_view room, std::string_view visitor);

  RoomStats stats(std::string_view room);

  const WaitingRoomOptions& options() const noexcept { return options_; }

 private:
  std::vector<std::string> keys(std::string_view room) const;
  void validate_visitor(std::string_view visitor) const;
  // Runs visit_waiting_room.lua ("join" | "status" | "advance").
  Reply visit(std::string_view action, std::string_view room, std::string_view visitor);
  // Runs leave_waiting_room.lua ("leave" | "complete" | "renew").
  Reply depart(std::string_view action, std::string_view room, std::string_view visitor);

  Client& client_;
  WaitingRoomOptions options_;
  KeySpace key_space_;
  std::int64_t opens_at_ms_ = 0;
  // 128 random bits; a room's first join makes its secret from them.
  std::string secret_;
};

}  // namespace flashsale
