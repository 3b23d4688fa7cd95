#include "pg_pool.hpp"

#include <fmt/core.h>

#include <cstdlib>
#include <stdexcept>

namespace shop {

PgResult pg_execute(PGconn* connection, const std::string& sql,
                    const std::vector<std::string>& parameters) {
  std::vector<const char*> values;
  values.reserve(parameters.size());
  for (const auto& parameter : parameters) {
    values.push_back(parameter.c_str());
  }
  // Without parameters: PQexec, which also runs several statements at once.
  PgResult result(values.empty()
                      ? PQexec(connection, sql.c_str())
                      : PQexecParams(connection, sql.c_str(), static_cast<int>(values.size()),
                                     nullptr, values.data(), nullptr, nullptr, 0));
  const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    throw std::runtime_error(
        fmt::format("PostgreSQL ({}): {}", state ? state : "no state", PQerrorMessage(connection)));
  }
  return result;
}

long long pg_number(PGconn* connection, const std::string& sql,
                    const std::vector<std::string>& parameters) {
  const auto result = pg_execute(connection, sql, parameters);
  if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0)) {
    return 0;
  }
  return std::atoll(PQgetvalue(result.get(), 0, 0));
}

PgPool::PgPool(const std::string& conninfo, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    PGconn* connection = PQconnectdb(conninfo.c_str());
    all_.push_back(connection);
    if (PQstatus(connection) != CONNECTION_OK) {
      const std::string message = PQerrorMessage(connection);
      for (PGconn* opened : all_) {
        PQfinish(opened);
      }
      throw std::runtime_error("cannot connect to PostgreSQL: " + message);
    }
    idle_.push_back(connection);
  }
}

PgPool::~PgPool() {
  for (PGconn* connection : all_) {
    PQfinish(connection);
  }
}

PgPool::Lease PgPool::lease() {
  std::unique_lock<std::mutex> lock(mutex_);
  returned_.wait(lock, [this] { return !idle_.empty(); });
  PGconn* connection = idle_.back();
  idle_.pop_back();
  lock.unlock();
  if (PQstatus(connection) != CONNECTION_OK) {
    PQreset(connection);
  }
  return Lease(*this, connection);
}

void PgPool::give_back(PGconn* connection) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(connection);
  }
  returned_.notify_one();
}

}  // namespace shop
