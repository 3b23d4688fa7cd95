#include "flashsale/sqlite_outbox_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include "common/option_checks.hpp"
#include "common/outbox_store_values.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"

namespace flashsale {

using detail::from_epoch_ms;
using detail::sql_limit;
using detail::to_epoch_ms;
using detail::validate_outbox_record_id;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS flashsale_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  aggregate_type TEXT NOT NULL,
  aggregate_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload BLOB NOT NULL,
  created_at_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at_ms INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  state INTEGER NOT NULL DEFAULT 0,
  published_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS flashsale_outbox_pending
  ON flashsale_outbox (id) WHERE state = 0;
CREATE INDEX IF NOT EXISTS flashsale_outbox_unpublished_by_aggregate
  ON flashsale_outbox (aggregate_type, aggregate_id, id) WHERE state != 1;
CREATE INDEX IF NOT EXISTS flashsale_outbox_published_at
  ON flashsale_outbox (published_at_ms) WHERE state = 1;
)sql";

constexpr const char* kRecordColumns =
    "id, aggregate_type, aggregate_id, event_type, payload, created_at_ms, attempts";

// A record is due when pending and its retry time has come, unless an earlier
// record of its aggregate is blocked or waits for a retry: that one must be
// published first. Earlier due records of the aggregate come first in id
// order, so every LIMIT of this query keeps the per-aggregate order.
constexpr const char* kFetchDueWhere = R"sql(
WHERE o.state = 0 AND o.next_attempt_at_ms <= ?1
  AND NOT EXISTS (
    SELECT 1 FROM flashsale_outbox AS e
    WHERE e.aggregate_type = o.aggregate_type AND e.aggregate_id = o.aggregate_id
      AND e.id < o.id AND e.state != 1
      AND (e.state = 2 OR e.next_attempt_at_ms > ?1))
ORDER BY o.id LIMIT ?2
)sql";

[[noreturn]] void throw_sqlite_error(sqlite3* db, int code, std::string_view action) {
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  const std::string message =
      fmt::format("SQLite outbox store: {} failed: {} ({})", action, detail, sqlite3_errstr(code));
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw TimeoutError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      throw ConnectionError(message);
    default:
      throw Error(message);
  }
}

void execute_script(sqlite3* db, const char* sql, std::string_view action) {
  const int code = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) {
    throw_sqlite_error(db, code, action);
  }
}

struct ConnectionCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using ConnectionHandle = std::unique_ptr<sqlite3, ConnectionCloser>;

// One prepared statement, finalized on destruction.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql) : db_(db) {
    sqlite3_stmt* statement = nullptr;
    const int code =
        sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement, nullptr);
    statement_.reset(statement);
    if (code != SQLITE_OK) {
      throw_sqlite_error(db, code, "preparing a statement");
    }
  }

  Statement& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(statement_.get(), index, value), "binding an integer");
    return *this;
  }
  Statement& bind_text(int index, std::string_view value) {
    check(sqlite3_bind_text64(statement_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT,
                              SQLITE_UTF8),
          "binding text");
    return *this;
  }
  Statement& bind_blob(int index, std::string_view value) {
    check(
        sqlite3_bind_blob64(statement_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT),
        "binding a blob");
    return *this;
  }

  // Makes the statement ready to run again (bindings are replaced by the
  // next bind calls).
  void reset() { sqlite3_reset(statement_.get()); }

  // True while there is a row to read.
  bool step() {
    const int code = sqlite3_step(statement_.get());
    if (code == SQLITE_ROW) {
      return true;
    }
    if (code == SQLITE_DONE) {
      return false;
    }
    throw_sqlite_error(db_, code, "running a statement");
  }

  // Runs a statement that returns no rows; the number of rows it changed.
  int run() {
    step();
    return sqlite3_changes(db_);
  }

  std::int64_t integer(int column) const { return sqlite3_column_int64(statement_.get(), column); }
  bool is_null(int column) const {
    return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL;
  }
  std::string text(int column) const {
    const void* data = sqlite3_column_blob(statement_.get(), column);
    const int size = sqlite3_column_bytes(statement_.get(), column);
    return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), size);
  }

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
  };

  void check(int code, std::string_view action) const {
    if (code != SQLITE_OK) {
      throw_sqlite_error(db_, code, action);
    }
  }

  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> statement_;
};

// Reads the columns of kRecordColumns, starting at column 0.
OutboxRecord read_record(const Statement& row) {
  OutboxRecord record;
  record.id = row.integer(0);
  record.aggregate_type = row.text(1);
  record.aggregate_id = row.text(2);
  record.event_type = row.text(3);
  record.payload = row.text(4);
  record.created_at = from_epoch_ms(row.integer(5));
  record.attempts = static_cast<int>(row.integer(6));
  return record;
}

}  // namespace

class SqliteOutboxStore::Impl {
 public:
  Impl(const std::string& path, const SqliteOutboxStoreOptions& options) {
    sqlite3* db = nullptr;
    const int code =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    db_.reset(db);
    if (code != SQLITE_OK) {
      throw_sqlite_error(db, code, fmt::format("opening \"{}\"", path));
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(std::min<long long>(
                                 options.busy_timeout.count(), std::numeric_limits<int>::max())));
    Statement wal(db, "PRAGMA journal_mode = WAL");
    if (!wal.step() || wal.text(0) != "wal") {
      throw Error(fmt::format("SQLite outbox store: \"{}\" cannot run in WAL mode", path));
    }
    // The relay's marks need not survive a power loss: a lost mark makes the
    // relay publish the record again, which the publisher deduplicates. In WAL
    // mode NORMAL still survives a crash of the process, without an fsync per mark.
    execute_script(db, "PRAGMA synchronous = NORMAL", "setting synchronous mode");
    create_schema(db);
  }

  sqlite3* db() const noexcept { return db_.get(); }
  std::mutex mutex;

 private:
  ConnectionHandle db_;
};

SqliteOutboxStore::SqliteOutboxStore(const std::string& path, SqliteOutboxStoreOptions options)
    : options_(options) {
  detail::OptionChecks("SqliteOutboxStoreOptions")
      .at_least("busy_timeout", options_.busy_timeout, std::chrono::milliseconds{0});
  impl_ = std::make_unique<Impl>(path, options_);
}

SqliteOutboxStore::~SqliteOutboxStore() = default;

void SqliteOutboxStore::create_schema(sqlite3* db) {
  execute_script(db, kSchema, "creating the outbox table");
}

std::int64_t SqliteOutboxStore::append(sqlite3* db, const NewOutboxRecord& record) {
  validate_outbox_record(record);
  Statement insert(db,
                   "INSERT INTO flashsale_outbox (aggregate_type, aggregate_id, event_type, "
                   "payload, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
  insert.bind_text(1, record.aggregate_type)
      .bind_text(2, record.aggregate_id)
      .bind_text(3, record.event_type)
      .bind_blob(4, record.payload)
      .bind(5, to_epoch_ms(std::chrono::system_clock::now()));
  insert.run();
  return sqlite3_last_insert_rowid(db);
}

std::vector<OutboxRecord> SqliteOutboxStore::fetch_due(std::size_t limit,
                                                       std::chrono::system_clock::time_point now) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement select(impl_->db(), fmt::format("SELECT {} FROM flashsale_outbox AS o {}",
                                            kRecordColumns, kFetchDueWhere));
  select.bind(1, to_epoch_ms(now)).bind(2, sql_limit(limit));
  std::vector<OutboxRecord> records;
  while (select.step()) {
    records.push_back(read_record(select));
  }
  return records;
}

void SqliteOutboxStore::mark_published(std::int64_t id) {
  validate_outbox_record_id(id);
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement update(impl_->db(),
                   "UPDATE flashsale_outbox SET state = 1, published_at_ms = ?2 "
                   "WHERE id = ?1 AND state = 0");
  update.bind(1, id).bind(2, to_epoch_ms(std::chrono::system_clock::now())).run();
}

void SqliteOutboxStore::mark_published_many(const std::vector<std::int64_t>& ids) {
  for (const auto id : ids) {
    validate_outbox_record_id(id);
  }
  if (ids.empty()) {
    return;
  }
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  execute_script(impl_->db(), "BEGIN IMMEDIATE", "starting a transaction");
  try {
    Statement update(impl_->db(),
                     "UPDATE flashsale_outbox SET state = 1, published_at_ms = ?2 "
                     "WHERE id = ?1 AND state = 0");
    const auto now = to_epoch_ms(std::chrono::system_clock::now());
    for (const auto id : ids) {
      update.reset();
      update.bind(1, id).bind(2, now).run();
    }
    execute_script(impl_->db(), "COMMIT", "committing");
  } catch (...) {
    sqlite3_exec(impl_->db(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SqliteOutboxStore::mark_failed(std::int64_t id, std::string_view error,
                                    std::chrono::system_clock::time_point next_attempt_at) {
  validate_outbox_record_id(id);
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement update(impl_->db(),
                   "UPDATE flashsale_outbox SET attempts = attempts + 1, last_error = ?2, "
                   "next_attempt_at_ms = ?3 WHERE id = ?1 AND state = 0");
  update.bind(1, id).bind_text(2, error).bind(3, to_epoch_ms(next_attempt_at)).run();
}

void SqliteOutboxStore::mark_blocked(std::int64_t id, std::string_view error) {
  validate_outbox_record_id(id);
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement update(impl_->db(),
                   "UPDATE flashsale_outbox SET attempts = attempts + 1, last_error = ?2, "
                   "state = 2 WHERE id = ?1 AND state = 0");
  update.bind(1, id).bind_text(2, error).run();
}

std::vector<BlockedOutboxRecord> SqliteOutboxStore::list_blocked(std::size_t limit) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement select(impl_->db(), fmt::format("SELECT {}, last_error FROM flashsale_outbox "
                                            "WHERE state = 2 ORDER BY id LIMIT ?1",
                                            kRecordColumns));
  select.bind(1, sql_limit(limit));
  std::vector<BlockedOutboxRecord> blocked;
  while (select.step()) {
    blocked.push_back(BlockedOutboxRecord{read_record(select), select.text(7)});
  }
  return blocked;
}

bool SqliteOutboxStore::unblock(std::int64_t id) {
  validate_outbox_record_id(id);
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement update(impl_->db(),
                   "UPDATE flashsale_outbox SET state = 0, attempts = 0, "
                   "next_attempt_at_ms = 0 WHERE id = ?1 AND state = 2");
  return update.bind(1, id).run() == 1;
}

std::optional<OutboxRecordStatus> SqliteOutboxStore::status(std::int64_t id) {
  validate_outbox_record_id(id);
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement select(impl_->db(), fmt::format("SELECT {}, state, last_error, next_attempt_at_ms, "
                                            "published_at_ms FROM flashsale_outbox WHERE id = ?1",
                                            kRecordColumns));
  select.bind(1, id);
  if (!select.step()) {
    return std::nullopt;
  }
  OutboxRecordStatus status;
  status.record = read_record(select);
  status.state = detail::outbox_record_state(select.integer(7));
  status.last_error = select.text(8);
  status.next_attempt_at = from_epoch_ms(select.integer(9));
  if (!select.is_null(10)) {
    status.published_at = from_epoch_ms(select.integer(10));
  }
  return status;
}

OutboxCounts SqliteOutboxStore::counts() {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement select(impl_->db(), "SELECT state, COUNT(*) FROM flashsale_outbox GROUP BY state");
  OutboxCounts counts;
  while (select.step()) {
    detail::add_outbox_count(counts, select.integer(0), select.integer(1));
  }
  Statement oldest(
      impl_->db(),
      "SELECT created_at_ms FROM flashsale_outbox WHERE state = 0 ORDER BY id LIMIT 1");
  if (oldest.step()) {
    counts.oldest_pending_created_at = from_epoch_ms(oldest.integer(0));
  }
  return counts;
}

std::size_t SqliteOutboxStore::purge_published(std::chrono::system_clock::time_point before,
                                               std::size_t limit) {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  Statement purge(impl_->db(),
                  "DELETE FROM flashsale_outbox WHERE id IN (SELECT id FROM flashsale_outbox "
                  "WHERE state = 1 AND published_at_ms < ?1 ORDER BY published_at_ms LIMIT ?2)");
  return static_cast<std::size_t>(
      purge.bind(1, to_epoch_ms(before)).bind(2, sql_limit(limit)).run());
}

}  // namespace flashsale
