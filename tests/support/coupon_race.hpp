// A coupon that is open now and a race of many threads for it: shared by the
// metrics tests (the Prometheus scrape test and the transport figures test).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "flashsale/coupon_issuer.hpp"
#include "redis_test_helpers.hpp"

namespace flashsale::testing {

// A coupon open from an hour ago (by the server clock) for a day.
inline CouponTemplate open_coupon(Client& client, std::string id, std::int64_t total) {
  const auto now = server_now(client);
  CouponTemplate coupon;
  coupon.id = std::move(id);
  coupon.total = total;
  coupon.opens_at = now - std::chrono::hours(1);
  coupon.closes_at = now + std::chrono::hours(24);
  return coupon;
}

// `threads` threads each issue `coupon_id` to `users_per_thread` distinct
// users; returns how many calls answered Issued.
inline int run_coupon_race(FirstComeCouponIssuer& issuer, const std::string& coupon_id, int threads,
                           int users_per_thread) {
  std::atomic<int> issued{0};
  std::vector<std::thread> racers;
  for (int thread = 0; thread < threads; ++thread) {
    racers.emplace_back([&, thread] {
      for (int user = 0; user < users_per_thread; ++user) {
        const auto result =
            issuer.issue(coupon_id, "user-" + std::to_string(thread) + "-" + std::to_string(user));
        if (result.status == IssueStatus::Issued) {
          ++issued;
        }
      }
    });
  }
  for (auto& racer : racers) {
    racer.join();
  }
  return issued.load();
}

}  // namespace flashsale::testing
