#include "coupon_persister.hpp"

#include <fmt/core.h>

#include <cstdio>

namespace shop {
namespace {

std::string field(const flashsale::StreamMessage& message, std::string_view name) {
  for (const auto& [key, value] : message.fields) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

flashsale::StreamConsumerOptions consumer_options(std::string_view first_stream) {
  flashsale::StreamConsumerOptions options;
  options.streams = {std::string(first_stream)};
  options.group = "shop-database";
  options.consumer = "shop-service";
  options.batch_size = 500;
  options.block_timeout = std::chrono::milliseconds(200);
  return options;
}

}  // namespace

CouponPersister::CouponPersister(flashsale::Client& redis, PgPool& pool,
                                 std::string_view first_stream)
    : pool_(pool), consumer_(redis, consumer_options(first_stream)) {
  thread_ = std::thread([this] {
    try {
      consumer_.run_batches([this](const auto& batch) { return persist(batch); });
    } catch (const std::exception& error) {
      fmt::print(stderr, "shop_service: coupon persister stopped: {}\n", error.what());
    }
  });
}

CouponPersister::~CouponPersister() {
  consumer_.stop();
  thread_.join();
}

std::vector<flashsale::HandlerOutcome> CouponPersister::persist(
    const std::vector<flashsale::StreamMessage>& batch) {
  auto lease = pool_.lease();
  pg_transaction(lease.get(), [&] {
    for (const auto& message : batch) {
      if (field(message, "type") == "issued") {
        pg_execute(lease.get(),
                   "INSERT INTO user_coupons VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                   {field(message, "coupon"), field(message, "user"), field(message, "sequence")});
      }
    }
  });
  return std::vector<flashsale::HandlerOutcome>(batch.size(), flashsale::HandlerOutcome::Ack);
}

}  // namespace shop
