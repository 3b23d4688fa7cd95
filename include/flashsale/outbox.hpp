// The transactional outbox: the records a host writes into its own database
// in the same transaction as its business rows, and the two interfaces the
// OutboxRelay moves them through (a store to read them from, a publisher to
// send them to).
//
// An aggregate is identified by the pair (aggregate_type, aggregate_id).
// Records of one aggregate are published in id order; records of different
// aggregates are independent of each other.
//
// The record structs are plain values. The interfaces say nothing about
// threads themselves: the relay calls its store and its publisher from one
// thread at a time, and each implementation documents whether it may be
// shared beyond that (SqliteOutboxStore and RedisStreamPublisher may).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flashsale/export.hpp"

namespace flashsale {

// A record as the host appends it; the store assigns the id, the creation
// time and the attempt count.
struct NewOutboxRecord {
  // Names the kind of aggregate ("order", "coupon"). Becomes part of a Redis
  // key when the publisher routes by type, so it follows the key id rules of
  // key_space.hpp: 1..128 bytes, no braces, whitespace or control characters.
  std::string aggregate_type;
  // Which aggregate of that type ("order-1042"): 1..128 bytes, any bytes.
  std::string aggregate_id;
  // What happened ("order_placed"): 1..128 bytes, any bytes.
  std::string event_type;
  // The event body, any bytes (JSON, protobuf, ...), up to kMaxOutboxPayloadBytes.
  std::string payload;
};

// Longest aggregate id and event type, in bytes.
inline constexpr std::size_t kMaxOutboxFieldBytes = 128;
// Largest payload, in bytes (16 MiB).
inline constexpr std::size_t kMaxOutboxPayloadBytes = std::size_t{16} << 20;

// Throws InvalidArgument unless every field of `record` keeps the limits
// documented on NewOutboxRecord.
FLASHSALE_EXPORT void validate_outbox_record(const NewOutboxRecord& record);

// A stored record.
struct OutboxRecord {
  // Assigned by the store; within one aggregate, increasing in commit order
  // (across aggregates only SQLite also keeps commit order).
  std::int64_t id = 0;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string event_type;
  std::string payload;
  std::chrono::system_clock::time_point created_at;  // millisecond precision
  int attempts = 0;                                  // failed publish attempts so far
};

// A record the relay gave up on after too many failed attempts. It stays
// unpublished, and holds back every later record of its aggregate, until it
// is unblocked.
struct BlockedOutboxRecord {
  OutboxRecord record;
  std::string last_error;
};

enum class OutboxRecordState { Pending, Published, Blocked };

// Everything a store knows about one record, for inspection.
struct OutboxRecordStatus {
  OutboxRecord record;
  OutboxRecordState state = OutboxRecordState::Pending;
  std::string last_error;                                 // empty when no attempt failed
  std::chrono::system_clock::time_point next_attempt_at;  // epoch when due at once
  std::optional<std::chrono::system_clock::time_point> published_at;
};

struct OutboxCounts {
  std::int64_t pending = 0;
  std::int64_t published = 0;
  std::int64_t blocked = 0;
  // Creation time of the oldest pending record; nullopt when none is pending
  // (feeds OutboxFigures of component_metrics.hpp).
  std::optional<std::chrono::system_clock::time_point> oldest_pending_created_at;
};

// Where the relay reads records from and writes their progress to.
//
// Contract of fetch_due, which keeps the per-aggregate order: it returns, in
// id order, up to `limit` unpublished records, none of them blocked, that
// are due at `now`, and never a record that has an earlier unpublished record
// of its aggregate which is blocked or not yet due. So a failing record holds
// back the later records of its aggregate across batches, and nothing else.
//
// Several relays at once: a store that claims (PostgresOutboxStore) hands the
// aggregates of a batch to the store instance that fetched it, until that
// instance's next fetch_due or the end of a lease, so relays on separate
// instances never publish one aggregate concurrently. A store that does not
// claim (SqliteOutboxStore) supports one relay.
//
// mark_published and unblock are idempotent: repeating one with the same id
// does no harm. mark_failed and mark_blocked only change a pending record.
// Implementations document their thread-safety and the exceptions they
// throw (derived from flashsale::Error).
class FLASHSALE_EXPORT OutboxStore {
 public:
  virtual ~OutboxStore() = default;

  virtual std::vector<OutboxRecord> fetch_due(std::size_t limit,
                                              std::chrono::system_clock::time_point now) = 0;
  // The record was published; it is never fetched again.
  virtual void mark_published(std::int64_t id) = 0;
  // mark_published for every id of `ids`, in as few round trips and commits
  // as the store can (the relay marks a pass's records with one call). The
  // default calls mark_published once per id.
  virtual void mark_published_many(const std::vector<std::int64_t>& ids);
  // One more failed attempt: attempts + 1, the error kept, not due again
  // before `next_attempt_at`.
  virtual void mark_failed(std::int64_t id, std::string_view error,
                           std::chrono::system_clock::time_point next_attempt_at) = 0;
  // One more failed attempt, and the record is blocked until unblock().
  virtual void mark_blocked(std::int64_t id, std::string_view error) = 0;
  // Blocked records in id order, at most `limit`.
  virtual std::vector<BlockedOutboxRecord> list_blocked(std::size_t limit) = 0;
  // Makes a blocked record due now with its attempts reset to 0. Returns
  // false when `id` is not a blocked record (unknown, pending or published).
  virtual bool unblock(std::int64_t id) = 0;
};

// The host's side of a store: writes a record inside the transaction the host
// has open on its own database connection (the one an appender is made for),
// so the record commits exactly when the host's business rows do and a
// rolled-back transaction leaves no record. Host code that depends only on
// this interface works with every store (SqliteOutboxAppender,
// PostgresOutboxAppender). An appender is bound to one connection and is as
// thread-safe as that connection (use it from the thread that owns the
// transaction).
class FLASHSALE_EXPORT OutboxAppender {
 public:
  virtual ~OutboxAppender() = default;

  // Validates the record (validate_outbox_record: InvalidArgument writes
  // nothing), inserts it as a pending record and returns its id. Store errors
  // leave the host's transaction to the host (usually: roll back).
  virtual std::int64_t append(const NewOutboxRecord& record) = 0;
};

// Where the relay sends records. Implementations document the exceptions
// they throw; the relay treats every std::exception as a failed attempt.
class FLASHSALE_EXPORT OutboxPublisher {
 public:
  virtual ~OutboxPublisher() = default;

  // Publishes one record, or throws (any std::exception) when it could not.
  // Called again with the same record after a failure, or after a relay
  // crashed between publishing and marking: a publisher that must not
  // duplicate records makes this idempotent per record id.
  virtual void publish(const OutboxRecord& record) = 0;
};

}  // namespace flashsale
