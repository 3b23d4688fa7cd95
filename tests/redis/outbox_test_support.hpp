// Shared by the outbox tests and the relay worker program: a temporary
// directory, the host application's own SQLite connection, starting the
// worker process, and the outbox id of a stream entry.
#pragma once

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/sqlite_outbox_store.hpp"
#include "forwarding_outbox_store.hpp"
#include "redis_test_helpers.hpp"
#include "test_program.hpp"

namespace flashsale::testing {

class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fs-outbox-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The host application's own connection, with an `orders` business table.
class HostDatabase {
 public:
  explicit HostDatabase(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      const std::string message = sqlite3_errmsg(db_);
      sqlite3_close(db_);
      throw std::runtime_error("cannot open " + path + ": " + message);
    }
    sqlite3_busy_timeout(db_, 10000);
    execute("PRAGMA journal_mode = WAL");
    execute("PRAGMA synchronous = NORMAL");
    SqliteOutboxStore::create_schema(db_);
    execute("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER)");
  }
  ~HostDatabase() { sqlite3_close(db_); }
  HostDatabase(const HostDatabase&) = delete;
  HostDatabase& operator=(const HostDatabase&) = delete;

  void execute(const std::string& sql) {
    char* message = nullptr;
    const int code = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    const std::string text = message != nullptr ? message : "";
    sqlite3_free(message);
    if (code != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + text);
    }
  }

  // One committed transaction: the business row and its outbox record.
  std::int64_t place_order(const std::string& aggregate_id, const std::string& payload,
                           const std::string& aggregate_type = "order") {
    execute("BEGIN IMMEDIATE");
    execute("INSERT OR REPLACE INTO orders VALUES ('" + payload + "', 1)");
    const auto id = SqliteOutboxStore::append(
        db_, NewOutboxRecord{aggregate_type, aggregate_id, "order_placed", payload});
    execute("COMMIT");
    return id;
  }

  sqlite3* handle() const noexcept { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// Starts tests/programs/outbox_relay_worker with `arguments`; returns its pid.
inline pid_t start_relay_worker(const std::vector<std::string>& arguments) {
  return start_test_program("outbox_relay_worker", arguments);
}

// Waits for a started worker; returns the raw waitpid status.
inline int wait_for_worker(pid_t pid) {
  return wait_for_exit(pid);
}

// Runs the worker to its end; returns the raw waitpid status.
inline int run_relay_worker(const std::vector<std::string>& arguments) {
  return wait_for_worker(start_relay_worker(arguments));
}

inline bool killed_by_sigkill(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

inline bool exited_cleanly(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The outbox id of an entry RedisStreamPublisher wrote.
inline std::int64_t outbox_id_of(const StreamEntry& entry) {
  return std::stoll(entry.fields.at("outbox_id"));
}

}  // namespace flashsale::testing
