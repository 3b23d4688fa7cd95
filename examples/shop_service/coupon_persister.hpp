// Persists the coupons' `issued` events into user_coupons: a StreamConsumer
// with a batch handler on its own thread, one PostgreSQL transaction per batch
// (up to 500 entries; a redelivered entry changes nothing: ON CONFLICT DO
// NOTHING). Coupons' streams are added while it runs.
#pragma once

#include <flashsale/client.hpp>
#include <flashsale/stream_consumer.hpp>

#include <string_view>
#include <thread>

#include "pg_pool.hpp"

namespace shop {

class CouponPersister {
 public:
  CouponPersister(flashsale::Client& redis, PgPool& pool, std::string_view first_stream);
  ~CouponPersister();  // stops and joins
  CouponPersister(const CouponPersister&) = delete;
  CouponPersister& operator=(const CouponPersister&) = delete;

  void add_stream(std::string_view stream) { consumer_.add_stream(stream); }

 private:
  std::vector<flashsale::HandlerOutcome> persist(
      const std::vector<flashsale::StreamMessage>& batch);

  PgPool& pool_;
  flashsale::StreamConsumer consumer_;
  std::thread thread_;
};

}  // namespace shop
