// Shared by the outbox tests and the relay worker program: a temporary
// directory, the host application's own SQLite connection, starting the
// worker process, and reading an outbox stream back from Redis.
#pragma once

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/sqlite_outbox_store.hpp"

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

// Runs tests/programs/outbox_relay_worker with `arguments` and waits for it.
// Returns the raw waitpid status.
inline int run_relay_worker(const std::vector<std::string>& arguments) {
  const std::string program = std::string(FLASHSALE_TEST_PROGRAM_DIR) + "/outbox_relay_worker";
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& argument : arguments) {
    argv.push_back(const_cast<char*>(argument.c_str()));
  }
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return status;
}

inline bool killed_by_sigkill(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

inline bool exited_cleanly(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// One entry of an outbox stream, as RedisStreamPublisher writes it.
struct StreamEntry {
  std::string entry_id;
  std::map<std::string, std::string> fields;
  std::int64_t outbox_id() const { return std::stoll(fields.at("outbox_id")); }
};

// Every entry of `stream`, in stream order (read in pages of 1000).
inline std::vector<StreamEntry> read_stream(Client& client, const std::string& stream) {
  std::vector<StreamEntry> entries;
  std::string start = "-";
  while (true) {
    const auto reply =
        client.execute({{"XRANGE", stream, start, "+", "COUNT", "1000"}, stream, {}});
    const auto& page = reply.as_array();
    for (const auto& item : page) {
      const auto& parts = item.as_array();
      StreamEntry entry;
      entry.entry_id = parts.at(0).as_string();
      const auto& fields = parts.at(1).as_array();
      for (std::size_t field = 0; field + 1 < fields.size(); field += 2) {
        entry.fields[fields[field].as_string()] = fields[field + 1].as_string();
      }
      entries.push_back(std::move(entry));
    }
    if (page.size() < 1000) {
      return entries;
    }
    start = "(" + entries.back().entry_id;
  }
}

}  // namespace flashsale::testing
