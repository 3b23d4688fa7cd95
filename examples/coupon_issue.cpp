// The smallest complete use of FirstComeCouponIssuer: register a coupon with
// 100 units open for an hour, issue one to a user, print the outcome.
//
//   coupon_issue [host] [port]     (default 127.0.0.1 6379)
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"

int main(int argc, char** argv) {
  try {
    flashsale::ConnectionOptions connection;
    connection.host = argc > 1 ? argv[1] : "127.0.0.1";
    connection.port = argc > 2 ? std::atoi(argv[2]) : 6379;
    flashsale::StandaloneClient client(connection);
    flashsale::FirstComeCouponIssuer issuer(client);

    const auto now = std::chrono::system_clock::now();
    flashsale::CouponTemplate coupon;
    coupon.id = "welcome-10";
    coupon.total = 100;
    coupon.opens_at = now - std::chrono::minutes(1);
    coupon.closes_at = now + std::chrono::hours(1);
    issuer.register_template(coupon);

    const flashsale::IssueResult result = issuer.issue("welcome-10", "user-42");
    switch (result.status) {
      case flashsale::IssueStatus::Issued:
        std::cout << "issued, sequence " << result.sequence << ", " << result.remaining
                  << " left\n";
        break;
      case flashsale::IssueStatus::AlreadyIssued:
        std::cout << "already issued, sequence " << result.sequence << "\n";
        break;
      case flashsale::IssueStatus::SoldOut:
        std::cout << "sold out\n";
        break;
      case flashsale::IssueStatus::NotOpen:
      case flashsale::IssueStatus::Closed:
        std::cout << "outside the coupon's window\n";
        break;
      case flashsale::IssueStatus::Restoring:
        std::cout << "the coupon is being restored; try again shortly\n";
        break;
      case flashsale::IssueStatus::UnknownCoupon:
        std::cout << "no such coupon\n";
        break;
    }
    return 0;
  } catch (const flashsale::Error& error) {
    std::cerr << "coupon_issue: " << error.what() << "\n";
    return 1;
  }
}
