// FirstComeCouponIssuer against a real redis-server: issuing, the window, the
// per-user limit, revoke, re-registration, paging, faults and bad input.
#include "flashsale/coupon_issuer.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "coupon_test_support.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::CouponTemplate;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssueStatus;
using flashsale::RegisterStatus;
using flashsale::RevokeStatus;
using flashsale::testing::read_stream;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;
using flashsale::testing::StreamEntry;
using flashsale::testing::wait_until_loaded;
using flashsale::testing::coupon::dataset_digest;
using flashsale::testing::coupon::open_coupon;
using flashsale::testing::coupon::read_events;

namespace {

using Clock = std::chrono::system_clock;

void restart_and_wait_for_data(RedisServer& server) {
  server.restart();
  wait_until_loaded(server.admin());
}

}  // namespace

TEST_CASE("a coupon is issued in arrival order until it is sold out", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  const auto registered = issuer.register_template(open_coupon(*client, "summer", 3));
  CHECK(registered.status == RegisterStatus::Created);
  CHECK(registered.remaining == 3);

  const auto first = issuer.issue("summer", "alice");
  CHECK(first.status == IssueStatus::Issued);
  CHECK(first.sequence == 1);
  CHECK(first.remaining == 2);
  CHECK(issuer.issue("summer", "bob").sequence == 2);
  const auto third = issuer.issue("summer", "carol");
  CHECK(third.status == IssueStatus::Issued);
  CHECK(third.sequence == 3);
  CHECK(third.remaining == 0);

  const auto late = issuer.issue("summer", "dave");
  CHECK(late.status == IssueStatus::SoldOut);
  CHECK(late.sequence == 0);
  CHECK(late.remaining == 0);

  const auto stats = issuer.stats("summer");
  REQUIRE(stats.has_value());
  CHECK(stats->total == 3);
  CHECK(stats->issued == 3);
  CHECK(stats->remaining == 0);
  CHECK(stats->revoked == 0);
  CHECK(issuer.sequence_of("summer", "bob") == std::optional<std::int64_t>(2));
  CHECK_FALSE(issuer.sequence_of("summer", "dave").has_value());

  const auto events = read_events(*client, "summer");
  REQUIRE(events.size() == 3);
  CHECK(events[0].fields.at("type") == "issued");
  CHECK(events[0].fields.at("coupon") == "summer");
  CHECK(events[0].fields.at("user") == "alice");
  CHECK(events[0].fields.at("sequence") == "1");
  const long long issued_at = std::stoll(events[0].fields.at("issued_at_ms"));
  CHECK(issued_at > 1'600'000'000'000LL);  // milliseconds, not seconds
}

TEST_CASE("an unknown coupon reports UnknownCoupon and writes nothing", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(1);
  FirstComeCouponIssuer issuer(*client);
  const std::string before = dataset_digest(server);
  CHECK(issuer.issue("nope", "alice").status == IssueStatus::UnknownCoupon);
  CHECK(issuer.revoke("nope", "alice", "test").status == RevokeStatus::UnknownCoupon);
  CHECK_FALSE(issuer.stats("nope").has_value());
  CHECK(issuer.issue_many("nope", {"a", "b"}).at(1).status == IssueStatus::UnknownCoupon);
  CHECK(dataset_digest(server) == before);
}

TEST_CASE("a retried issue reports AlreadyIssued with the original sequence", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "retry", 2));
  CHECK(issuer.issue("retry", "alice").sequence == 1);
  CHECK(issuer.issue("retry", "bob").sequence == 2);

  // Also after the stock ran out and after the window closed.
  const auto again = issuer.issue("retry", "alice");
  CHECK(again.status == IssueStatus::AlreadyIssued);
  CHECK(again.sequence == 1);
  CHECK(again.remaining == 0);
  auto closed = open_coupon(*client, "retry", 2);
  closed.closes_at = server_now(*client) - 1s;
  CHECK(issuer.register_template(closed).status == RegisterStatus::Updated);
  CHECK(issuer.issue("retry", "bob").status == IssueStatus::AlreadyIssued);
  CHECK(issuer.issue("retry", "bob").sequence == 2);
  CHECK(issuer.issue("retry", "carol").status == IssueStatus::Closed);
  CHECK(read_events(*client, "retry").size() == 2);
}

TEST_CASE("a retried issue after a timeout reports AlreadyIssued with the original sequence",
          "[coupon]") {
  RedisServer server;
  auto options = server.connection_options();
  options.command_timeout = 100ms;
  flashsale::StandaloneClient client(options, flashsale::PoolOptions{2, 10s});
  FirstComeCouponIssuer issuer(client);
  issuer.register_template(open_coupon(client, "timeout", 10));
  CHECK(issuer.issue("timeout", "warmup").sequence == 1);

  // The server is busy for 600 ms: the call is sent, the client gives up, the
  // server runs the script afterwards anyway.
  auto& admin = server.admin();
  std::thread sleeper([&] { admin.execute({{"DEBUG", "SLEEP", "0.6"}, {}, {}}); });
  std::this_thread::sleep_for(150ms);
  CHECK_THROWS_AS(issuer.issue("timeout", "alice"), flashsale::TimeoutError);
  sleeper.join();

  const auto events = read_events(admin, "timeout");
  REQUIRE(events.size() == 2);  // the timed-out call took effect
  const std::string original = events[1].fields.at("sequence");
  CHECK(events[1].fields.at("user") == "alice");

  const auto retried = issuer.issue("timeout", "alice");
  CHECK(retried.status == IssueStatus::AlreadyIssued);
  CHECK(std::to_string(retried.sequence) == original);
  CHECK(read_events(admin, "timeout").size() == 2);
  CHECK(issuer.stats("timeout")->issued == 2);
}

TEST_CASE("the window is judged by the server clock: NotOpen before, Closed after", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(1);
  FirstComeCouponIssuer issuer(*client);
  const auto now = server_now(*client);

  CouponTemplate coupon;
  coupon.id = "window";
  coupon.total = 5;
  coupon.opens_at = now + 1h;
  coupon.closes_at = now + 2h;
  issuer.register_template(coupon);
  const auto early = issuer.issue("window", "alice");
  CHECK(early.status == IssueStatus::NotOpen);
  CHECK(early.remaining == 5);

  coupon.opens_at = now - 2h;
  coupon.closes_at = now - 1ms;
  CHECK(issuer.register_template(coupon).status == RegisterStatus::Updated);
  const auto late = issuer.issue("window", "alice");
  CHECK(late.status == IssueStatus::Closed);
  CHECK(late.remaining == 5);

  coupon.closes_at = now + 1h;
  issuer.register_template(coupon);
  CHECK(issuer.issue("window", "alice").status == IssueStatus::Issued);

  // Nothing was taken by the refused calls.
  CHECK(issuer.stats("window")->issued == 1);
  CHECK(read_events(*client, "window").size() == 1);
}

TEST_CASE("per_user_limit = 3 gives each user exactly 3, also when racing", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(8);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "triple", 1000, 3));

  CHECK(issuer.issue("triple", "alice").sequence == 1);
  CHECK(issuer.issue("triple", "alice").sequence == 2);
  CHECK(issuer.issue("triple", "bob").sequence == 3);
  const auto third = issuer.issue("triple", "alice");
  CHECK(third.status == IssueStatus::Issued);
  CHECK(third.sequence == 4);
  const auto fourth = issuer.issue("triple", "alice");
  CHECK(fourth.status == IssueStatus::AlreadyIssued);
  CHECK(fourth.sequence == 4);  // the latest
  CHECK(issuer.sequence_of("triple", "alice") == std::optional<std::int64_t>(4));

  constexpr int kThreads = 8;
  constexpr int kUsers = 20;
  constexpr int kTries = 10;
  std::vector<std::atomic<int>> issued(kUsers);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&] {
      for (int attempt = 0; attempt < kTries; ++attempt) {
        for (int user = 0; user < kUsers; ++user) {
          if (issuer.issue("triple", "racer-" + std::to_string(user)).status ==
              IssueStatus::Issued) {
            ++issued[user];
          }
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (int user = 0; user < kUsers; ++user) {
    INFO("user " << user);
    CHECK(issued[user] == 3);
  }
  const auto stats = issuer.stats("triple");
  CHECK(stats->issued == 4 + 3 * kUsers);
  CHECK(stats->remaining == 1000 - stats->issued);
}

TEST_CASE("revoke returns the unit to stock for a later user and revoking twice changes nothing",
          "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "revoke", 2));
  issuer.issue("revoke", "alice");
  issuer.issue("revoke", "bob");
  CHECK(issuer.issue("revoke", "carol").status == IssueStatus::SoldOut);

  const auto revoked = issuer.revoke("revoke", "alice", "order insert failed");
  CHECK(revoked.status == RevokeStatus::Revoked);
  CHECK(revoked.sequence == 1);
  CHECK(revoked.remaining == 1);
  CHECK_FALSE(issuer.sequence_of("revoke", "alice").has_value());

  const std::string after_first = dataset_digest(server);
  const auto twice = issuer.revoke("revoke", "alice", "order insert failed");
  CHECK(twice.status == RevokeStatus::NotHeld);
  CHECK(twice.remaining == 1);
  CHECK(issuer.revoke("revoke", "bob", "retry", 1).status == RevokeStatus::NotHeld);
  CHECK(dataset_digest(server) == after_first);

  const auto later = issuer.issue("revoke", "carol");
  CHECK(later.status == IssueStatus::Issued);
  CHECK(later.sequence == 3);
  CHECK(later.remaining == 0);

  const auto stats = issuer.stats("revoke");
  CHECK(stats->total == 2);
  CHECK(stats->issued == 2);
  CHECK(stats->remaining == 0);
  CHECK(stats->revoked == 1);

  const auto events = read_events(*client, "revoke");
  REQUIRE(events.size() == 4);
  CHECK(events[2].fields.at("type") == "revoked");
  CHECK(events[2].fields.at("user") == "alice");
  CHECK(events[2].fields.at("sequence") == "1");
  CHECK(events[2].fields.at("reason") == "order insert failed");
  CHECK(events[3].fields.at("type") == "issued");
  CHECK(events[3].fields.at("user") == "carol");
}

TEST_CASE("revoke with a sequence takes back exactly that unit, once", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "multi", 10, 3));
  issuer.issue("multi", "alice");  // 1
  issuer.issue("multi", "bob");    // 2
  issuer.issue("multi", "alice");  // 3
  issuer.issue("multi", "alice");  // 4

  const auto revoked = issuer.revoke("multi", "alice", "payment failed", 3);
  CHECK(revoked.status == RevokeStatus::Revoked);
  CHECK(revoked.sequence == 3);
  CHECK(issuer.revoke("multi", "alice", "payment failed", 3).status == RevokeStatus::NotHeld);
  CHECK(issuer.sequence_of("multi", "alice") == std::optional<std::int64_t>(4));

  // Below the limit again: alice may claim one more, and then no more.
  CHECK(issuer.issue("multi", "alice").sequence == 5);
  CHECK(issuer.issue("multi", "alice").status == IssueStatus::AlreadyIssued);

  // Revoking her earliest moves her place in the queue to her next one.
  CHECK(issuer.revoke("multi", "alice", "payment failed", 1).status == RevokeStatus::Revoked);
  const auto page = issuer.issued_users("multi");
  REQUIRE(page.users.size() == 2);
  CHECK(page.users[0].user == "bob");
  CHECK(page.users[0].sequence == 2);
  CHECK(page.users[1].user == "alice");
  CHECK(page.users[1].sequence == 4);
  const auto stats = issuer.stats("multi");
  CHECK(stats->issued == 3);
  CHECK(stats->revoked == 2);
  CHECK(stats->remaining == 7);
}

TEST_CASE("registering again is idempotent and a new total moves the stock by the difference",
          "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  auto coupon = open_coupon(*client, "regs", 5);
  CHECK(issuer.register_template(coupon).status == RegisterStatus::Created);
  const auto same = issuer.register_template(coupon);
  CHECK(same.status == RegisterStatus::Unchanged);
  CHECK(same.remaining == 5);

  issuer.issue_many("regs", {"a", "b", "c"});
  coupon.total = 8;
  const auto raised = issuer.register_template(coupon);
  CHECK(raised.status == RegisterStatus::Updated);
  CHECK(raised.issued == 3);
  CHECK(raised.remaining == 5);
  CHECK(issuer.register_template(coupon).status == RegisterStatus::Unchanged);

  const std::string before = dataset_digest(server);
  coupon.total = 2;
  const auto refused = issuer.register_template(coupon);
  CHECK(refused.status == RegisterStatus::TotalBelowIssued);
  CHECK(refused.issued == 3);
  CHECK(refused.remaining == 5);
  CHECK(dataset_digest(server) == before);

  coupon.total = 3;
  const auto exact = issuer.register_template(coupon);
  CHECK(exact.status == RegisterStatus::Updated);
  CHECK(exact.remaining == 0);
  CHECK(issuer.issue("regs", "d").status == IssueStatus::SoldOut);
  CHECK(issuer.stats("regs")->total == 3);
}

TEST_CASE("issue_many returns one result per user, in order, with issue's semantics", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "batch", 3));
  CHECK(issuer.issue_many("batch", {}).empty());

  server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
  const auto results = issuer.issue_many("batch", {"a", "b", "a", "c", "d"});
  REQUIRE(results.size() == 5);
  CHECK(results[0].status == IssueStatus::Issued);
  CHECK(results[0].sequence == 1);
  CHECK(results[1].sequence == 2);
  CHECK(results[2].status == IssueStatus::AlreadyIssued);
  CHECK(results[2].sequence == 1);
  CHECK(results[3].sequence == 3);
  CHECK(results[3].remaining == 0);
  CHECK(results[4].status == IssueStatus::SoldOut);

  const auto retried = issuer.issue_many("batch", {"c", "a"});
  CHECK(retried[0].status == IssueStatus::AlreadyIssued);
  CHECK(retried[0].sequence == 3);
  CHECK(retried[1].sequence == 1);
}

TEST_CASE("issued users are listed in arrival order, page by page", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "pages", 100));
  std::vector<std::string> users;
  for (int index = 0; index < 25; ++index) {
    users.push_back("user-" + std::to_string(index));
  }
  issuer.issue_many("pages", users);
  issuer.revoke("pages", "user-3", "test");

  std::vector<std::string> listed;
  std::int64_t after = 0;
  int pages = 0;
  for (;;) {
    const auto page = issuer.issued_users("pages", after, 10);
    ++pages;
    for (const auto& entry : page.users) {
      CHECK(entry.sequence > after);
      listed.push_back(entry.user);
    }
    if (!page.next_after_sequence) {
      break;
    }
    after = *page.next_after_sequence;
  }
  CHECK(pages == 3);
  users.erase(users.begin() + 3);
  CHECK(listed == users);
  CHECK(issuer.issued_users("pages", 25, 10).users.empty());
}

TEST_CASE("after a restart with AOF the scripts load again and the counts continue", "[coupon]") {
  flashsale::testing::RedisServerOptions options;
  options.config_lines = {"appendonly yes", "appendfsync always"};
  RedisServer server(options);
  auto client = server.make_client(4);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "restart", 4));
  CHECK(issuer.issue("restart", "alice").sequence == 1);
  CHECK(issuer.issue("restart", "bob").sequence == 2);

  restart_and_wait_for_data(server);  // the script cache is empty now: NOSCRIPT
  const auto again = issuer.issue("restart", "alice");
  CHECK(again.status == IssueStatus::AlreadyIssued);
  CHECK(again.sequence == 1);
  CHECK(issuer.issue("restart", "carol").sequence == 3);

  restart_and_wait_for_data(server);
  const auto batch = issuer.issue_many("restart", {"bob", "dave", "erin"});
  CHECK(batch[0].sequence == 2);
  CHECK(batch[1].sequence == 4);
  CHECK(batch[2].status == IssueStatus::SoldOut);
  CHECK(read_events(*client, "restart").size() == 4);
}

TEST_CASE("a restart without persistence loses the coupon: it reads as unknown", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  issuer.register_template(open_coupon(*client, "volatile", 4));
  CHECK(issuer.issue("volatile", "alice").status == IssueStatus::Issued);
  server.restart();
  CHECK(issuer.issue("volatile", "alice").status == IssueStatus::UnknownCoupon);
  CHECK_FALSE(issuer.stats("volatile").has_value());
}

TEST_CASE("the events stream is capped approximately at max_stream_length", "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::FirstComeCouponIssuerOptions options;
  options.max_stream_length = 100;
  FirstComeCouponIssuer issuer(*client, options);
  issuer.register_template(open_coupon(*client, "capped", 2000));
  std::vector<std::string> users;
  for (int index = 0; index < 1000; ++index) {
    users.push_back("user-" + std::to_string(index));
  }
  issuer.issue_many("capped", users);
  const std::string key = "fs:coupon:{capped}:events";
  const long long length = client->execute({{"XLEN", key}, key, {}}).as_integer();
  CHECK(length >= 100);
  CHECK(length < 1000);
  CHECK(issuer.stats("capped")->issued == 1000);
}

TEST_CASE("bad input raises InvalidArgument, sends nothing and leaves Redis unchanged",
          "[coupon]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::FirstComeCouponIssuerOptions options;
  options.max_user_id_bytes = 64;
  FirstComeCouponIssuer issuer(*client, options);
  const auto valid = open_coupon(*client, "valid", 10);
  issuer.register_template(valid);
  issuer.issue("valid", "alice");

  std::vector<CouponTemplate> bad_templates;
  for (const std::string& id : {std::string(), std::string(129, 'x'), std::string("a{b}"),
                                std::string("{valid}"), std::string("sp ace")}) {
    auto coupon = valid;
    coupon.id = id;
    bad_templates.push_back(coupon);
  }
  for (const std::int64_t total :
       {std::int64_t{0}, std::int64_t{-1}, flashsale::kMaxQuantity + 1}) {
    auto coupon = valid;
    coupon.total = total;
    bad_templates.push_back(coupon);
  }
  for (const std::int64_t limit :
       {std::int64_t{0}, std::int64_t{-3}, flashsale::kMaxCouponPerUserLimit + 1}) {
    auto coupon = valid;
    coupon.per_user_limit = limit;
    bad_templates.push_back(coupon);
  }
  {
    auto coupon = valid;
    coupon.closes_at = coupon.opens_at - 1s;
    bad_templates.push_back(coupon);
    coupon.closes_at = coupon.opens_at;
    bad_templates.push_back(coupon);
    coupon = valid;
    coupon.opens_at = Clock::time_point(-1h);
    bad_templates.push_back(coupon);
  }

  const std::string digest = dataset_digest(server);
  const long long before = server.commands_processed();
  for (const auto& coupon : bad_templates) {
    INFO("id '" << coupon.id << "' total " << coupon.total << " limit " << coupon.per_user_limit);
    CHECK_THROWS_AS(issuer.register_template(coupon), flashsale::InvalidArgument);
  }
  const std::string long_user(65, 'u');
  CHECK_THROWS_AS(issuer.issue("valid", long_user), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("valid", ""), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("", "alice"), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("a}b", "alice"), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.issue_many("valid", {"bob", long_user}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.revoke("valid", long_user, "x"), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.revoke("valid", "alice", std::string(1025, 'r')),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.revoke("valid", "alice", "x", 0), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.stats(std::string(129, 'x')), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.sequence_of("valid", long_user), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.issued_users("valid", -1), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.issued_users("valid", 0, 0), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.issued_users("valid", 0, flashsale::kMaxCouponIssuedPageSize + 1),
                  flashsale::InvalidArgument);
  CHECK(server.commands_processed() == before + 1);  // only that INFO itself
  CHECK(dataset_digest(server) == digest);

  // A user id of exactly the limit, of any bytes, is fine.
  const std::string binary_user = std::string("\0\xff{} \n", 6) + std::string(58, 'b');
  REQUIRE(binary_user.size() == 64);
  CHECK(issuer.issue("valid", binary_user).status == IssueStatus::Issued);
  CHECK(issuer.issue("valid", binary_user).status == IssueStatus::AlreadyIssued);
}

TEST_CASE("the issuer refuses a server that may evict keys when asked to", "[coupon]") {
  flashsale::testing::RedisServerOptions server_options;
  server_options.config_lines = {"maxmemory-policy allkeys-lru"};
  RedisServer server(server_options);
  auto client = server.make_client(1);
  flashsale::FirstComeCouponIssuerOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Refuse;
  CHECK_THROWS_AS(FirstComeCouponIssuer(*client, options), flashsale::ConfigurationError);
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  CHECK_NOTHROW(FirstComeCouponIssuer(*client, options));
}
