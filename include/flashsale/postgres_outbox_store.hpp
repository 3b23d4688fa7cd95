// PostgresOutboxStore: an OutboxStore in PostgreSQL (12 or later) through
// libpq (target flashsale::outbox_postgres, built when libpq is found), for
// several relays in several processes at once.
//
// The host appends records with PostgresOutboxStore::append (or a
// PostgresOutboxAppender) on ITS OWN connection, inside the transaction that
// writes its business rows: the record commits exactly when they do, and a
// rolled-back transaction leaves no record. The store opens a connection of
// its own for the relay.
//
// Per-aggregate order although commit order differs from id order. Ids come
// from an identity column, so two transactions can take ids 5 and 6 and
// commit 6 first; a relay that saw 6 before 5 committed would publish them
// inverted. append therefore first takes a transaction-scoped advisory lock
// on the aggregate, pg_advisory_xact_lock(1718841186, hash32(type, id))
// (1718841186 is "fsob"; the two-key lock space with that first key belongs
// to the store, 1718841203 "fsos" too: schema creation), and only then
// takes its id. Appends to one aggregate thus run one transaction after
// another, each taking its id after the previous one committed and became
// visible: within an aggregate, id order is commit order, so every snapshot
// a relay reads holds a gap-free prefix of each aggregate's records. (Hash
// collisions only make two aggregates wait for each other; appends to
// different aggregates never do.) The cost: a host transaction that appends
// to an aggregate waits for another open transaction that appended to the
// same aggregate, and two transactions that append to the same aggregates in
// different orders can deadlock (PostgreSQL aborts one with SQLSTATE 40P01,
// which the host retries); append to several aggregates in a fixed order.
//
// Several relays: claiming. fetch_due runs one short transaction on the
// store's connection: it releases this instance's previous claims (its
// relay finished the previous batch: the relay fetches again only after
// marking it), claims the aggregates of the oldest due records in table
// flashsale_outbox_claims with SELECT ... FOR UPDATE SKIP LOCKED (a row
// another relay is claiming at that moment is skipped, never waited for; a
// claim is taken only while the previous one's lease has run out, checked
// again on the locked row), and returns the due records of the aggregates it
// now holds. Other instances do not fetch records of a claimed aggregate
// until this instance fetches again or `claim_lease` has passed (the
// database's clock): a relay killed mid-batch delays its aggregates by at
// most the lease. The lease must be longer than a relay needs to publish and
// mark one batch; a relay still publishing after its lease ran out can
// publish records of an aggregate concurrently with the relay that took it
// over (then a publisher that deduplicates by id, as RedisStreamPublisher
// does, still never shows a record twice, but order is no longer promised).
// Marks are single statements; mark_published_many marks a whole batch in
// one statement (one commit).
//
// Tables (created when missing; the host may create them itself with
// create_schema):
//   flashsale_outbox: id BIGINT identity, aggregate_type, aggregate_id,
//     event_type, payload BYTEA (any bytes), created_at_ms, attempts,
//     next_attempt_at_ms, last_error BYTEA, state SMALLINT (0 pending,
//     1 published, 2 blocked), published_at_ms.
//   flashsale_outbox_claims: (aggregate_type, aggregate_id) primary key,
//     claimed_by TEXT (a store instance's random token), claimed_until
//     TIMESTAMPTZ.
//
// Errors, all derived from flashsale::Error, with PostgreSQL's message:
//   connection lost or refused, SQLSTATE class 08, 57P01-57P03    -> ConnectionError
//   statement_timeout / lock_timeout (57014, 55P03)                -> TimeoutError
//   anything else (incl. 40001 serialization, 40P01 deadlock)      -> Error
// The store reconnects on its next call after a lost connection. Bad input
// raises InvalidArgument before PostgreSQL is touched.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flashsale/export.hpp"
#include "flashsale/outbox.hpp"

typedef struct pg_conn PGconn;  // libpq's connection, as libpq-fe.h declares it

namespace flashsale {

// Longest claim_lease.
inline constexpr std::chrono::hours kMaxPostgresOutboxClaimLease{24};

struct PostgresOutboxStoreOptions {
  // How long the aggregates of a fetched batch stay claimed by the instance
  // that fetched it when it never fetches again (its relay died); 1 ms to
  // kMaxPostgresOutboxClaimLease. Longer than a relay needs to publish and
  // mark one batch.
  std::chrono::milliseconds claim_lease{std::chrono::seconds(30)};
  // statement_timeout and lock_timeout of the store's own session; zero: none.
  std::chrono::milliseconds statement_timeout{std::chrono::seconds(10)};
  // How long connecting may take (libpq counts whole seconds, at least 2);
  // zero: no limit.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
};

// Thread-safe: calls are serialised on the store's own connection. One
// instance per relay (an instance's claims are its relay's batch).
class FLASHSALE_EXPORT PostgresOutboxStore final : public OutboxStore {
 public:
  // Connects with `conninfo` (a libpq connection string or URI, e.g.
  // "host=127.0.0.1 port=5432 dbname=shop user=app" or
  // "postgresql://app@127.0.0.1/shop") and creates the tables when missing.
  // Throws InvalidArgument for options outside their ranges (before
  // connecting), ConnectionError when it cannot connect, as documented above
  // otherwise.
  explicit PostgresOutboxStore(std::string_view conninfo, PostgresOutboxStoreOptions options = {});
  // Releases this instance's claims (best effort: errors are ignored and the
  // lease runs out instead).
  ~PostgresOutboxStore() override;
  PostgresOutboxStore(const PostgresOutboxStore&) = delete;
  PostgresOutboxStore& operator=(const PostgresOutboxStore&) = delete;

  // Creates the tables and indexes on `connection` when missing (idempotent,
  // safe when several processes do it at once). Runs its own transaction:
  // call it outside the host's.
  static void create_schema(PGconn* connection);

  // Inserts one pending record on the host's connection, inside whatever
  // transaction the host has open there (a connection in autocommit commits
  // it at once), and returns its id. Waits while another open transaction
  // holds an append to the same aggregate (see above). The tables must exist.
  // Validates the record first (validate_outbox_record): InvalidArgument
  // writes nothing. After a failure the host's transaction is aborted.
  static std::int64_t append(PGconn* connection, const NewOutboxRecord& record);

  std::vector<OutboxRecord> fetch_due(std::size_t limit,
                                      std::chrono::system_clock::time_point now) override;
  void mark_published(std::int64_t id) override;
  // One statement for every id.
  void mark_published_many(const std::vector<std::int64_t>& ids) override;
  void mark_failed(std::int64_t id, std::string_view error,
                   std::chrono::system_clock::time_point next_attempt_at) override;
  void mark_blocked(std::int64_t id, std::string_view error) override;
  std::vector<BlockedOutboxRecord> list_blocked(std::size_t limit) override;
  bool unblock(std::int64_t id) override;

  // One record's state; nullopt when there is no record with that id.
  std::optional<OutboxRecordStatus> status(std::int64_t id);
  OutboxCounts counts();
  // Deletes up to `limit` published records published before `before`,
  // oldest first, and up to `limit` claim rows of aggregates with nothing
  // left to publish; returns how many records. Published rows are otherwise
  // kept forever, so hosts call this periodically.
  std::size_t purge_published(std::chrono::system_clock::time_point before, std::size_t limit);

  const PostgresOutboxStoreOptions& options() const noexcept { return options_; }

 private:
  class Impl;
  PostgresOutboxStoreOptions options_;
  std::unique_ptr<Impl> impl_;
};

// PostgresOutboxStore::append as an OutboxAppender, bound to the host's
// connection (not owned; must outlive the appender).
class FLASHSALE_EXPORT PostgresOutboxAppender final : public OutboxAppender {
 public:
  explicit PostgresOutboxAppender(PGconn* connection) noexcept : connection_(connection) {}
  std::int64_t append(const NewOutboxRecord& record) override {
    return PostgresOutboxStore::append(connection_, record);
  }

 private:
  PGconn* connection_;
};

}  // namespace flashsale
