// libpq connections for the request threads: a fixed pool, statements with
// text parameters, and transactions that roll back on any exception.
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

namespace shop {

struct PgResultCloser {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultCloser>;

// Runs `sql` with text parameters ($1, $2, ...); throws std::runtime_error
// with PostgreSQL's message (and SQLSTATE) when it fails.
PgResult pg_execute(PGconn* connection, const std::string& sql,
                    const std::vector<std::string>& parameters = {});
// The first column of the first row as an integer (0 when there is no row or NULL).
long long pg_number(PGconn* connection, const std::string& sql,
                    const std::vector<std::string>& parameters = {});

// Runs `body` between BEGIN and COMMIT; ROLLBACK and rethrow on any exception.
template <typename Body>
auto pg_transaction(PGconn* connection, Body body) -> decltype(body()) {
  pg_execute(connection, "BEGIN");
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      pg_execute(connection, "COMMIT");
    } else {
      auto result = body();
      pg_execute(connection, "COMMIT");
      return result;
    }
  } catch (...) {
    PQclear(PQexec(connection, "ROLLBACK"));
    throw;
  }
}

// Thread-safe. A broken connection is reset when it is next leased.
class PgPool {
 public:
  PgPool(const std::string& conninfo, std::size_t size);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  class Lease {
   public:
    Lease(PgPool& pool, PGconn* connection) : pool_(pool), connection_(connection) {}
    ~Lease() { pool_.give_back(connection_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    PGconn* get() const noexcept { return connection_; }

   private:
    PgPool& pool_;
    PGconn* connection_;
  };
  Lease lease();

 private:
  void give_back(PGconn* connection);

  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<PGconn*> all_;
  std::vector<PGconn*> idle_;
};

}  // namespace shop
