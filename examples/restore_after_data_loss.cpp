// Reopening a coupon and a stock scope after Redis lost data: a new
// incarnation (epoch), rebuilt from what the host persisted.
//
//   restore_after_data_loss [host] [port]      (default 127.0.0.1 6379)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"

// What the host's StreamConsumer wrote to its database (here: made up).
struct PersistedIssue {
  std::int64_t epoch;
  std::int64_t sequence;
  std::string user;
};

// Steps 1-4 of the procedure in coupon_issuer.hpp. `drain` lets the host's
// consumers finish what they hold and empty the coupon's stream; `load_rows`
// then reads the persisted issues.
template <typename Drain, typename LoadRows>
flashsale::CouponRestoreResult reopen_coupon(flashsale::FirstComeCouponIssuer& issuer,
                                             const flashsale::CouponTemplate& coupon, Drain drain,
                                             LoadRows load_rows) {
  std::vector<PersistedIssue> rows = load_rows();
  std::int64_t highest_epoch = 0;
  for (const auto& row : rows) {
    highest_epoch = std::max(highest_epoch, row.epoch);
  }
  // 1. Issue, revoke and register answer Restoring from here on.
  const std::int64_t epoch = issuer.begin_restore(coupon, highest_epoch);
  // 2. Events that survived in Redis still reach the database; read again.
  drain();
  rows = load_rows();
  // 3. At most kMaxCouponRestoredUnitsPerBatch units per call; a retry is harmless.
  std::vector<flashsale::IssuedUser> batch;
  for (const auto& row : rows) {
    batch.push_back({row.user, row.sequence});
    if (batch.size() == flashsale::kMaxCouponRestoredUnitsPerBatch) {
      issuer.restore_issued(coupon.id, epoch, batch);
      batch.clear();
    }
  }
  if (!batch.empty()) {
    issuer.restore_issued(coupon.id, epoch, batch);
  }
  // 4. The sale goes on under the new epoch.
  return issuer.finish_restore(coupon.id, epoch);
}

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  flashsale::ConnectionOptions connection;
  if (argc > 1) {
    connection.host = argv[1];
  }
  if (argc > 2) {
    connection.port = std::atoi(argv[2]);
  }
  try {
    flashsale::StandaloneClient client(connection);
    flashsale::FirstComeCouponIssuer issuer(client);
    flashsale::CouponTemplate coupon;
    coupon.id = "welcome-10";
    coupon.total = 100;
    coupon.opens_at = std::chrono::system_clock::now() - 1min;
    coupon.closes_at = std::chrono::system_clock::now() + 1h;
    const std::int64_t old_epoch = 1'700'000'000'000'000;
    const auto restored = reopen_coupon(
        issuer, coupon, [] {},
        [&] {
          return std::vector<PersistedIssue>{{old_epoch, 1, "user-7"}, {old_epoch, 2, "user-9"}};
        });
    std::printf("coupon reopened: epoch %lld, %lld issued, %lld left, next sequence %lld\n",
                static_cast<long long>(restored.epoch), static_cast<long long>(restored.issued),
                static_cast<long long>(restored.remaining),
                static_cast<long long>(restored.last_sequence + 1));
    // user-7 holds a persisted unit: no second one in the new incarnation.
    const auto again = issuer.issue("welcome-10", "user-7");
    std::printf("user-7 again: %s\n",
                again.status == flashsale::IssueStatus::AlreadyIssued ? "already issued" : "?!");

    // A stock scope: the confirmed holds the host persisted, nothing else.
    flashsale::StockReserver reserver(client);
    const auto scope = reserver.restore("summer-deal", {{"phone-black", 100}},
                                        {{"order-1", {{"phone-black", 2}}}}, old_epoch);
    std::printf("scope reopened: epoch %lld, %lld confirmed, %lld available\n",
                static_cast<long long>(scope.epoch),
                static_cast<long long>(scope.skus.at(0).confirmed),
                static_cast<long long>(scope.skus.at(0).available));
    return 0;
  } catch (const flashsale::Error& error) {
    std::fprintf(stderr, "restore_after_data_loss: %s\n", error.what());
    return 1;
  }
}
