// JSON bodies both designs answer with.
#pragma once

#include <libpq-fe.h>
#include <flashsale/sliding_window_ranking.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "shop_backend.hpp"

namespace shop {

HttpReply json_reply(int status, std::string_view key, std::string_view value);
// {"source": source, "top": [{"sku": member, "sold": score}, ...]}
HttpReply ranking_reply(std::string_view source, const std::vector<flashsale::RankedMember>& top);
// Best first, from the confirmed orders in PostgreSQL: the ranking's fallback
// and the baseline's ranking. Members are "<sale>.<sku>".
std::vector<flashsale::RankedMember> top_from_orders(PGconn* connection, std::size_t n);

}  // namespace shop
