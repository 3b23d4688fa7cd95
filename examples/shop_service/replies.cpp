#include "replies.hpp"

#include <fmt/core.h>

#include <cstdlib>

#include "pg_pool.hpp"

namespace shop {

HttpReply json_reply(int status, std::string_view key, std::string_view value) {
  return {status, fmt::format("{{\"{}\":\"{}\"}}", key, value)};
}

HttpReply ranking_reply(std::string_view source, const std::vector<flashsale::RankedMember>& top) {
  std::string body = fmt::format("{{\"source\":\"{}\",\"top\":[", source);
  for (std::size_t i = 0; i < top.size(); ++i) {
    body += fmt::format("{}{{\"sku\":\"{}\",\"sold\":{}}}", i == 0 ? "" : ",", top[i].member,
                        top[i].score);
  }
  body += "]}";
  return {200, std::move(body)};
}

std::vector<flashsale::RankedMember> top_from_orders(PGconn* connection, std::size_t n) {
  const auto result = pg_execute(connection,
                                 "SELECT sale || '.' || sku, sum(quantity) FROM orders WHERE "
                                 "state = 'confirmed' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1",
                                 {std::to_string(n)});
  std::vector<flashsale::RankedMember> top;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    top.push_back({PQgetvalue(result.get(), row, 0), std::atof(PQgetvalue(result.get(), row, 1))});
  }
  return top;
}

}  // namespace shop
