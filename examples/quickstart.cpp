// The README's first example, kept identical to it by a test.
#include <chrono>
#include <iostream>

#include <flashsale/flashsale.hpp>

int main() {
  flashsale::StandaloneClient redis;  // 127.0.0.1:6379; a thread-safe pool
  flashsale::FirstComeCouponIssuer coupons(redis);

  const auto now = std::chrono::system_clock::now();
  coupons.register_template({"launch-day", 1000, now, now + std::chrono::hours(1)});

  const flashsale::IssueResult result = coupons.issue("launch-day", "user-42");
  if (result.status == flashsale::IssueStatus::Issued) {
    std::cout << "coupon #" << result.sequence << ", " << result.remaining << " left\n";
  }
}
