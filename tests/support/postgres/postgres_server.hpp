// A private PostgreSQL server for one test: Debian's initdb and postgres
// binaries, a cluster in a temporary directory, listening on a free loopback
// port (and a socket in that directory only), always stopped and its
// directory removed by the destructor, also when the test fails. When the
// tests run as root the cluster belongs to the `postgres` system user
// (PostgreSQL refuses to run as root). Tests never touch a server they did
// not start.
#pragma once

#include <sys/types.h>

#include <string>

typedef struct pg_conn PGconn;

namespace flashsale::testing {

// The directory of initdb and postgres: FLASHSALE_POSTGRES_BIN when set, else
// the newest /usr/lib/postgresql/<version>/bin. Throws std::runtime_error when
// there is none.
std::string postgres_bin_directory();

// Not thread-safe; owned by the test's main thread.
class PostgresServer {
 public:
  // initdb (trust authentication on loopback, superuser "flashsale", no
  // fsync) and start; throws std::runtime_error with the server log when it
  // does not come up.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const noexcept { return port_; }
  // "host=127.0.0.1 port=<port> user=flashsale dbname=postgres".
  std::string conninfo() const;
  // A new connection (the caller PQfinish-es it); throws std::runtime_error.
  PGconn* connect() const;

 private:
  void start();
  void stop() noexcept;

  std::string directory_;
  std::string data_directory_;
  int port_ = 0;
  pid_t pid_ = -1;
  uid_t run_as_uid_ = 0;
  gid_t run_as_gid_ = 0;
  bool drop_privileges_ = false;
};

// A connection that the destructor PQfinish-es, with a helper to run SQL.
class PostgresConnection {
 public:
  explicit PostgresConnection(const PostgresServer& server) : connection_(server.connect()) {}
  // Connects with a libpq connection string; throws std::runtime_error.
  explicit PostgresConnection(const std::string& conninfo);
  ~PostgresConnection();
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  PGconn* get() const noexcept { return connection_; }
  // Runs `sql` (no parameters); throws std::runtime_error on failure (the
  // connection stays usable; an open transaction is aborted). Returns
  // the first column of the first row, or "" when there is none.
  std::string execute(const std::string& sql);

 private:
  PGconn* connection_;
};

}  // namespace flashsale::testing
