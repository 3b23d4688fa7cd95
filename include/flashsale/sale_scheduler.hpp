// SaleScheduler: sale events (a coupon window opens, a hot deal ends) that
// fire exactly once at their time by the Redis server clock, promoted by any
// number of runners with no leader and no lock.
//
// A schedule is a set of events, each with an id, a due time and a payload.
// Its keys share the hash tag {schedule}, so it works unchanged on Redis
// Cluster:
//
//   <prefix>:sched:{S}:due       zset event id -> due time, ms since the epoch
//   <prefix>:sched:{S}:payloads  hash event id -> payload (pending events)
//   <prefix>:sched:{S}:settled   hash event id -> "promoted <due ms> <at ms>" |
//                                "cancelled <due ms> <at ms>"
//   <prefix>:sched:{S}:stream    stream of fired events, one entry per event:
//                                event_id, due_at, promoted_at, lateness_ms
//                                (ms), payload
//   <prefix>:sched:{S}:stats     hash: promoted, cancelled, lateness_max_ms and
//                                a lateness histogram
//
// Firing. promote_due() runs one script that takes the events whose due time
// has passed by the server's TIME, oldest first and at most `limit` of them,
// and moves each from `due` to `settled` while appending its stream entry.
// The script is the claim: two runners calling at once never promote the same
// event, and a runner killed at any moment loses nothing (the script ran
// entirely or not at all). A SaleSchedulerRunner (sale_scheduler_runner.hpp)
// calls it on a jittered interval; hosts handle the stream with a
// StreamConsumer (at-least-once, so handlers must be idempotent on the event
// id; parse_fired_event() reads an entry).
//
// Invariant: every event id is pending, promoted or cancelled, and goes from
// pending to one of the others exactly once. A promoted event has exactly one
// stream entry, its promoted_at >= due_at by the server clock; a cancelled one
// has none. Ids are remembered in `settled` for the life of the schedule's
// keys (tens of bytes each), so a retried or late schedule() of a fired id
// never fires it again; delete the schedule's keys when it is over.
//
// Lateness (promoted_at - due_at) is in every stream entry and reply, and
// stats() reports p50/p99/max over every promotion of the schedule plus how
// many events are overdue right now, for dashboards and alerts.
//
// What a failure can lose: only what Redis itself loses (an acknowledged write
// not yet persisted or replicated at a crash or failover). Stream entries are
// trimmed only with max_stream_length set and a consumer that falls behind it.
//
// Thread-safety: shareable between threads when its Client is (StandaloneClient
// is a pool). Holds no mutable state of its own.
//
// Errors: InvalidArgument for bad input, raised before anything is sent;
// ConnectionError, TimeoutError, ReplyError, ProtocolError from the transport.
// After a TimeoutError the outcome is unknown: every call is safe to retry
// with the same event id.
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
#include "flashsale/stream_consumer.hpp"

namespace flashsale {

// Hard limits the options may not exceed, so no script runs long.
inline constexpr std::size_t kMaxSchedulerPromotePerCallLimit = 10000;
inline constexpr std::size_t kMaxSchedulerPayloadBytesLimit = 1024 * 1024;
// Most events one due() or pending() call lists.
inline constexpr std::size_t kMaxSchedulerListedEvents = 10000;

struct SaleSchedulerOptions {
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // Largest `limit` promote_due() accepts (1..kMaxSchedulerPromotePerCallLimit): the
  // bound on how long one promotion call blocks Redis.
  std::size_t max_promote_per_call = 1000;
  // Longest event id, in bytes, 1..kMaxMemberIdBytesLimit (event ids travel as
  // ARGV and may hold any bytes).
  std::size_t max_event_id_bytes = 256;
  // Longest payload, in bytes, 1..kMaxSchedulerPayloadBytesLimit (an empty payload
  // is always allowed).
  std::size_t max_payload_bytes = 64 * 1024;
  // Approximate cap (XADD MAXLEN ~) of the schedule's stream; 0 means no cap;
  // 0..kMaxStreamLengthLimit. With a cap, a consumer that falls that far
  // behind misses the oldest fired events.
  std::size_t max_stream_length = 0;
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
};

enum class ScheduleStatus {
  Scheduled,         // pending now
  AlreadyScheduled,  // pending with the same time and payload: unchanged (a retry)
  Conflict,          // pending with another time or payload: unchanged (use reschedule)
  AlreadyPromoted,   // the id fired already: unchanged, it never fires again
  AlreadyCancelled,  // the id was cancelled: unchanged, it never fires
};

enum class RescheduleStatus {
  Rescheduled,       // pending, due at the new time (also when it already was)
  AlreadyPromoted,   // too late: it fired
  AlreadyCancelled,  // it was cancelled
  UnknownEvent,      // never scheduled: nothing written
};

enum class CancelStatus {
  Cancelled,         // it was pending and will never fire
  AlreadyCancelled,  // a retry: unchanged
  AlreadyPromoted,   // too late: it fired (its handler runs or ran)
  UnknownEvent,      // never scheduled: nothing written
};

// Defaults to a status that is not a success (kNotDone), like every result.
template <typename Status, Status kNotDone>
struct SchedulerReply {
  Status status = kNotDone;
  // The event's due time after the call: the new one when it changed, else the
  // one it has (or had, when promoted or cancelled); nullopt for UnknownEvent.
  std::optional<std::chrono::system_clock::time_point> due_at;
};
using ScheduleResult = SchedulerReply<ScheduleStatus, ScheduleStatus::Conflict>;
using RescheduleResult = SchedulerReply<RescheduleStatus, RescheduleStatus::UnknownEvent>;
using CancelResult = SchedulerReply<CancelStatus, CancelStatus::UnknownEvent>;

enum class EventState { Unknown, Pending, Promoted, Cancelled };

struct EventInfo {
  EventState state = EventState::Unknown;
  std::optional<std::chrono::system_clock::time_point> due_at;  // all but Unknown
  // When it was promoted or cancelled, by the server clock.
  std::optional<std::chrono::system_clock::time_point> settled_at;
  std::string payload;  // Pending only (a fired event's payload is in its stream entry)
};

// A pending event, as due() and pending() list it.
struct ScheduledEvent {
  std::string event_id;
  std::chrono::system_clock::time_point due_at;
  std::string payload;
};

// One event promote_due() moved into the stream.
struct PromotedEvent {
  std::string event_id;
  std::chrono::system_clock::time_point due_at;
  std::string stream_id;  // its entry in the schedule's stream
};

struct PromoteResult {
  std::vector<PromotedEvent> promoted;  // oldest due time first
  // Server time of the promotion; lateness of an event = promoted_at - due_at.
  std::chrono::system_clock::time_point promoted_at;
  bool more_due = false;  // due events remain (the call hit its limit): call again
};

// One fired event, read from a stream entry by parse_fired_event().
struct FiredEvent {
  std::string event_id;
  std::chrono::system_clock::time_point due_at;
  std::chrono::system_clock::time_point promoted_at;
  std::string payload;
  std::chrono::milliseconds lateness() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(promoted_at - due_at);
  }
};

struct SaleSchedulerStats {
  std::size_t pending = 0;  // events waiting, due or not
  std::size_t overdue = 0;  // pending events whose time has come by the server clock
  // How long the oldest overdue event has waited; nullopt when none is overdue.
  std::optional<std::chrono::milliseconds> oldest_overdue_age;
  std::int64_t promoted = 0;   // since the schedule's keys were created
  std::int64_t cancelled = 0;  // since the schedule's keys were created
  // Lateness over every promotion of the schedule: p50 and p99 from a
  // histogram exact below 32 ms and otherwise at most 1/16 too high (the
  // bucket's upper bound); max exact. nullopt before the first promotion.
  std::optional<std::chrono::milliseconds> lateness_p50;
  std::optional<std::chrono::milliseconds> lateness_p99;
  std::optional<std::chrono::milliseconds> lateness_max;
};

class FLASHSALE_EXPORT SaleScheduler {
 public:
  // Validates the options (InvalidArgument) and checks the server's eviction
  // policy (see preflight.hpp). The client must outlive the scheduler.
  explicit SaleScheduler(Client& client, SaleSchedulerOptions options = {});

  // Schedules `event_id` (1..max_event_id_bytes of any bytes) on `schedule`
  // (a key id) to fire at `fire_at` (rounded up to the millisecond, never
  // early; a past time fires at the next promotion). Idempotent per id: the
  // same id, time and payload again answers AlreadyScheduled; an id that fired
  // or was cancelled is never scheduled again.
  ScheduleResult schedule(std::string_view schedule, std::string_view event_id,
                          std::chrono::system_clock::time_point fire_at,
                          std::string_view payload = {});
  // Moves a pending event to `fire_at`; the payload stays.
  RescheduleResult reschedule(std::string_view schedule, std::string_view event_id,
                              std::chrono::system_clock::time_point fire_at);
  // Takes a pending event off for good. Races with promotion are decided by
  // Redis: the event is either promoted or cancelled, never both.
  CancelResult cancel(std::string_view schedule, std::string_view event_id);

  // Promotes at most `limit` (1..max_promote_per_call) due events, oldest
  // first, into the schedule's stream.
  PromoteResult promote_due(std::string_view schedule, std::size_t limit);

  // Pending events whose time has come (by the server clock), oldest first, at
  // most `limit` (1..kMaxSchedulerListedEvents).
  std::vector<ScheduledEvent> due(std::string_view schedule, std::size_t limit);
  // Pending events, due or not, oldest first, at most `limit` (1..kMaxSchedulerListedEvents).
  std::vector<ScheduledEvent> pending(std::string_view schedule, std::size_t limit);
  // Where one event stands.
  EventInfo find(std::string_view schedule, std::string_view event_id);
  SaleSchedulerStats stats(std::string_view schedule);

  // The schedule's stream key, for a StreamConsumer (its dead letters,
  // `<stream>:dead`, share the hash tag). Validates `schedule`.
  std::string stream(std::string_view schedule) const;

  const SaleSchedulerOptions& options() const noexcept { return options_; }

 private:
  std::vector<std::string> keys(std::string_view schedule) const;
  void validate_event_id(std::string_view event_id) const;
  std::vector<ScheduledEvent> list(std::string_view schedule, std::string_view mode,
                                   std::size_t limit);

  Client& client_;
  SaleSchedulerOptions options_;
  KeySpace key_space_;
};

// Reads one entry of a schedule's stream; ProtocolError when it lacks a field
// the scheduler writes (not an entry of a schedule's stream).
FLASHSALE_EXPORT FiredEvent parse_fired_event(const StreamMessage& message);

}  // namespace flashsale
