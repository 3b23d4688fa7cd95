#include "http_routes.hpp"

#include <flashsale/error.hpp>

#include <optional>
#include <stdexcept>

#include "order_id.hpp"
#include "replies.hpp"

namespace shop {
namespace {

struct BadRequest : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

std::string id_parameter(const httplib::Request& request, const char* name) {
  std::string value = request.get_param_value(name);
  if (!valid_id(value)) {
    throw BadRequest(std::string(name) + " must be 1..64 of [A-Za-z0-9_-]");
  }
  return value;
}

std::int64_t number_parameter(const httplib::Request& request, const char* name,
                              std::optional<std::int64_t> fallback = std::nullopt) {
  if (!request.has_param(name) && fallback) {
    return *fallback;
  }
  const std::string text = request.get_param_value(name);
  std::size_t used = 0;
  std::int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value <= 0 || value > 1'000'000'000) {
    throw BadRequest(std::string(name) + " must be an integer in 1..1e9");
  }
  return value;
}

// Runs `call` and turns its reply or exception into the response.
template <typename Call>
httplib::Server::Handler route(Call call) {
  return [call](const httplib::Request& request, httplib::Response& response) {
    HttpReply reply;
    try {
      reply = call(request);
    } catch (const BadRequest& error) {
      reply = json_reply(400, "error", error.what());
    } catch (const flashsale::ConnectionError& error) {
      reply = json_reply(503, "error", error.what());
    } catch (const std::exception& error) {
      reply = json_reply(500, "error", error.what());
    }
    response.status = reply.status;
    response.set_content(reply.body, "application/json");
  };
}

}  // namespace

void add_shop_routes(httplib::Server& server, ShopBackend& backend) {
  server.Post("/sales", route([&](const httplib::Request& request) {
                SaleSpec sale{
                    id_parameter(request, "name"), number_parameter(request, "coupon_total"),
                    number_parameter(request, "skus"), number_parameter(request, "stock")};
                if (sale.skus > 10'000) {
                  throw BadRequest("skus must be at most 10000");
                }
                return backend.create_sale(sale);
              }));
  server.Post(R"(/coupons/([A-Za-z0-9_-]{1,64})/issue)",
              route([&](const httplib::Request& request) {
                return backend.issue_coupon(request.matches[1], id_parameter(request, "user"));
              }));
  server.Post("/orders", route([&](const httplib::Request& request) {
                return backend.create_order(
                    id_parameter(request, "sale"), id_parameter(request, "user"),
                    id_parameter(request, "sku"), number_parameter(request, "quantity", 1));
              }));
  server.Post(R"(/orders/([^/]{1,200})/confirm)", route([&](const httplib::Request& request) {
                return backend.confirm_order(request.matches[1]);
              }));
  server.Get("/ranking/top", route([&](const httplib::Request& request) {
               const auto n = number_parameter(request, "n", 10);
               if (n > 1000) {
                 throw BadRequest("n must be at most 1000");
               }
               return backend.ranking_top(static_cast<std::size_t>(n));
             }));
  server.Post(R"(/sales/([A-Za-z0-9_-]{1,64})/end)", route([&](const httplib::Request& request) {
                return backend.end_sale(request.matches[1]);
              }));
  server.Get(R"(/sales/([A-Za-z0-9_-]{1,64})/check)", route([&](const httplib::Request& request) {
               return backend.check_sale(request.matches[1]);
             }));
  server.Get("/health", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("{\"status\":\"ok\"}", "application/json");
  });
}

}  // namespace shop
