// SqliteOutboxStore: the embedded OutboxStore, one table in a SQLite
// database file (target flashsale::outbox_sqlite, built when SQLite3 is
// found).
//
// The host appends records with SqliteOutboxStore::append on ITS OWN
// connection, inside the transaction that writes its business row: the
// record commits exactly when the business row does, and a rolled-back
// transaction leaves no record. The store opens a second connection of its
// own for the relay. The database runs in WAL mode with a busy timeout, so a
// writer in another process (or thread) and the relay wait for each other
// instead of failing. SQLite serialises writers, so record ids increase in
// commit order.
//
// Table `flashsale_outbox` (created when missing):
//   id INTEGER PRIMARY KEY AUTOINCREMENT, aggregate_type,
//   aggregate_id, event_type TEXT, payload BLOB, created_at_ms,
//   attempts, next_attempt_at_ms, last_error, state (0 pending,
//   1 published, 2 blocked), published_at_ms.
//
// Ids: a committed record's id is never handed out again, even after
// purge_published() deleted it (AUTOINCREMENT keeps the highest id ever
// committed). An append whose transaction rolled back gives its id back
// (SQLite rolls the AUTOINCREMENT counter back with it), so the next append
// may get the same id; harmless, since the rolled-back record never existed
// for the relay or a publisher.
//
// Errors, all derived from flashsale::Error, with SQLite's message:
//   SQLITE_BUSY / SQLITE_LOCKED (the busy timeout ran out)      -> TimeoutError
//   SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY,
//   SQLITE_PERM, SQLITE_NOTADB, SQLITE_CORRUPT (the file)        -> ConnectionError
//   anything else                                                -> Error
// Bad input raises InvalidArgument before SQLite is touched.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "flashsale/export.hpp"
#include "flashsale/outbox.hpp"

struct sqlite3;

namespace flashsale {

struct SqliteOutboxStoreOptions {
  // How long one statement waits for a lock held by another connection
  // before TimeoutError (>= 0; 0 fails at once).
  std::chrono::milliseconds busy_timeout{5000};
};

// Thread-safe: calls are serialised on the store's own connection.
class FLASHSALE_EXPORT SqliteOutboxStore final : public OutboxStore {
 public:
  // Opens (creating when missing) the database at `path`, switches it to WAL
  // mode and creates the table. Throws as documented above.
  explicit SqliteOutboxStore(const std::string& path, SqliteOutboxStoreOptions options = {});
  ~SqliteOutboxStore() override;
  SqliteOutboxStore(const SqliteOutboxStore&) = delete;
  SqliteOutboxStore& operator=(const SqliteOutboxStore&) = delete;

  // Creates the table and its indexes on `db` when missing (idempotent). For
  // hosts that append before any store was constructed on that file.
  static void create_schema(sqlite3* db);

  // Inserts one pending record on the host's connection `db`, inside
  // whatever transaction the host has open there, and returns its id. The
  // table must exist (create_schema or a constructed store). Validates the
  // record first (validate_outbox_record): InvalidArgument writes nothing.
  static std::int64_t append(sqlite3* db, const NewOutboxRecord& record);

  std::vector<OutboxRecord> fetch_due(std::size_t limit,
                                      std::chrono::system_clock::time_point now) override;
  void mark_published(std::int64_t id) override;
  // One transaction for every id.
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
  // oldest first; returns how many. Published rows are otherwise kept
  // forever, so hosts call this periodically.
  std::size_t purge_published(std::chrono::system_clock::time_point before, std::size_t limit);

  const SqliteOutboxStoreOptions& options() const noexcept { return options_; }

 private:
  class Impl;
  SqliteOutboxStoreOptions options_;
  std::unique_ptr<Impl> impl_;
};

// SqliteOutboxStore::append as an OutboxAppender, bound to the host's
// connection `db` (not owned; must outlive the appender).
class FLASHSALE_EXPORT SqliteOutboxAppender final : public OutboxAppender {
 public:
  explicit SqliteOutboxAppender(sqlite3* db) noexcept : db_(db) {}
  std::int64_t append(const NewOutboxRecord& record) override {
    return SqliteOutboxStore::append(db_, record);
  }

 private:
  sqlite3* db_;
};

}  // namespace flashsale
