// Persists a coupon template's `issued` events from its Redis stream into a
// SQLite table, at least once and idempotently.
//
//   stream_consumer [port] [coupon-template] [database-file] [--until-idle]
//
// The FirstComeCouponIssuer appends an event per issued coupon to
// fs:coupon:{<template>}:events with the fields type=issued, coupon, user,
// sequence and issued_at_ms. The table has UNIQUE(coupon_id, user_id) and
// every row is written with INSERT OR IGNORE, so an event delivered twice
// (after a crash between the insert and the XACK, or a take-over by another
// consumer) still makes one row. A malformed event goes to the dead-letter
// stream fs:coupon:{<template>}:events:dead; a database error is retried.
// Other event types (revoked) are left to a handler of their own.
//
// Runs until SIGINT/SIGTERM; with --until-idle it stops after a poll that
// found nothing.
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "flashsale/standalone_client.hpp"
#include "flashsale/stream_consumer.hpp"

namespace {

// The one SQLite connection of this process and its prepared insert.
class IssuedCouponTable {
 public:
  explicit IssuedCouponTable(const std::string& file) {
    if (sqlite3_open(file.c_str(), &database_) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + file + ": " + sqlite3_errmsg(database_));
    }
    execute(
        "CREATE TABLE IF NOT EXISTS coupon_issued ("
        " coupon_id TEXT NOT NULL, user_id TEXT NOT NULL, sequence INTEGER NOT NULL,"
        " issued_at_ms INTEGER NOT NULL, stream_id TEXT NOT NULL,"
        " UNIQUE(coupon_id, user_id))");
    if (sqlite3_prepare_v2(database_,
                           "INSERT OR IGNORE INTO coupon_issued"
                           " (coupon_id, user_id, sequence, issued_at_ms, stream_id)"
                           " VALUES (?, ?, ?, ?, ?)",
                           -1, &insert_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("cannot prepare the insert: ") +
                               sqlite3_errmsg(database_));
    }
  }
  ~IssuedCouponTable() {
    sqlite3_finalize(insert_);
    sqlite3_close(database_);
  }
  IssuedCouponTable(const IssuedCouponTable&) = delete;
  IssuedCouponTable& operator=(const IssuedCouponTable&) = delete;

  // True when the row is new, false when it was already there.
  bool insert(const std::string& coupon, const std::string& user, long long sequence,
              long long issued_at_ms, const std::string& stream_id) {
    sqlite3_reset(insert_);
    sqlite3_bind_text(insert_, 1, coupon.c_str(), static_cast<int>(coupon.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(insert_, 2, user.c_str(), static_cast<int>(user.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert_, 3, sequence);
    sqlite3_bind_int64(insert_, 4, issued_at_ms);
    sqlite3_bind_text(insert_, 5, stream_id.c_str(), static_cast<int>(stream_id.size()),
                      SQLITE_TRANSIENT);
    if (sqlite3_step(insert_) != SQLITE_DONE) {
      throw std::runtime_error(std::string("insert failed: ") + sqlite3_errmsg(database_));
    }
    return sqlite3_changes(database_) == 1;
  }

 private:
  void execute(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(database_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error != nullptr ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error(message);
    }
  }

  sqlite3* database_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

std::optional<std::string> field(const flashsale::StreamMessage& message, const char* name) {
  for (const auto& [key, value] : message.fields) {
    if (key == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::optional<long long> integer_field(const flashsale::StreamMessage& message, const char* name) {
  const auto text = field(message, name);
  if (!text || text->empty()) {
    return std::nullopt;
  }
  char* end = nullptr;
  const long long value = std::strtoll(text->c_str(), &end, 10);
  if (end != text->c_str() + text->size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 6379;
  const std::string coupon_template = argc > 2 ? argv[2] : "summer-sale";
  const std::string database_file = argc > 3 ? argv[3] : "coupons.db";
  const bool until_idle = argc > 4 && std::string(argv[4]) == "--until-idle";

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    flashsale::ConnectionOptions connection;
    connection.port = port;
    flashsale::StandaloneClient client(connection);
    IssuedCouponTable table(database_file);

    flashsale::StreamConsumerOptions options;
    options.streams = {"fs:coupon:{" + coupon_template + "}:events"};
    options.group = "coupon-persister";
    options.consumer = "persister-" + std::to_string(::getpid());
    options.claim_idle = std::chrono::seconds(30);
    flashsale::StreamConsumer consumer(client, options);

    long long inserted = 0;
    long long already_present = 0;
    const auto handler = [&](const flashsale::StreamMessage& message) {
      if (field(message, "type") != "issued") {
        return flashsale::HandlerOutcome::Ack;
      }
      const auto coupon = field(message, "coupon");
      const auto user = field(message, "user");
      const auto sequence = integer_field(message, "sequence");
      const auto issued_at_ms = integer_field(message, "issued_at_ms");
      if (!coupon || !user || !sequence || !issued_at_ms) {
        return flashsale::HandlerOutcome::DeadLetter;  // retrying cannot fix it
      }
      // A database error throws: the entry stays pending and is retried.
      if (table.insert(*coupon, *user, *sequence, *issued_at_ms, message.id)) {
        ++inserted;
      } else {
        ++already_present;
      }
      return flashsale::HandlerOutcome::Ack;
    };

    std::thread signal_waiter([&] {
      int signal_number = 0;
      sigwait(&stop_signals, &signal_number);
      consumer.stop();
    });
    std::exception_ptr failure;
    try {
      if (until_idle) {
        while (consumer.poll_once(handler) > 0) {
        }
      } else {
        consumer.run(handler);
      }
    } catch (...) {
      failure = std::current_exception();
    }
    if (until_idle || failure) {
      pthread_kill(signal_waiter.native_handle(), SIGTERM);  // ends the waiter
    }
    signal_waiter.join();
    if (failure) {
      std::rethrow_exception(failure);
    }

    const auto stats = consumer.stats();
    std::printf("inserted %lld, already present %lld, dead-lettered %lld, pending %lld\n", inserted,
                already_present, static_cast<long long>(stats.dead_lettered),
                static_cast<long long>(stats.pending));
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "stream_consumer: %s\n", error.what());
    return 1;
  }
}
