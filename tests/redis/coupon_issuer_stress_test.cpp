// The first-come race at full size: 64 threads, 500,000 issue calls from
// 100,000 users (5 tries each) for 10,000 coupons. Exactly 10,000 are issued,
// to 10,000 different users, with sequences exactly 1..10,000, also while
// another thread flushes the script cache every 100 ms.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssueResult;
using flashsale::IssueStatus;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;
using flashsale::testing::wait_until_loaded;

namespace {

constexpr int kThreads = 64;
constexpr int kUsers = 100'000;
constexpr int kTriesPerUser = 5;
constexpr int kCalls = kUsers * kTriesPerUser;
constexpr std::int64_t kCoupons = 10'000;
const std::string kCoupon = "race";
const std::string kStockKey = "fs:coupon:{race}:stock";
const std::string kEventsKey = "fs:coupon:{race}:events";

std::string user_name(int user) {
  return "user-" + std::to_string(user);
}

// The stock, read once the server has loaded its data (after a restart with
// AOF it answers -LOADING for a while).
long long stock_once_loaded(RedisServer& server) {
  wait_until_loaded(server.admin());
  return server.admin().execute({{"GET", kStockKey}, kStockKey, {}}).as_integer();
}

// Registers kCoupon with `total` units, open by the server clock for a day.
void register_race_coupon(flashsale::Client& client, FirstComeCouponIssuer& issuer,
                          std::int64_t total) {
  const auto now = server_now(client);
  flashsale::CouponTemplate coupon;
  coupon.id = kCoupon;
  coupon.total = total;
  coupon.opens_at = now - 1h;
  coupon.closes_at = now + 24h;
  REQUIRE(issuer.register_template(coupon).status == flashsale::RegisterStatus::Created);
}

struct RaceOutcome {
  std::vector<IssueResult> results;  // by call index; call i is user i % kUsers
  std::vector<std::string> errors;
  long long lowest_stock_seen = 0;
  int stock_samples = 0;
};

// Runs the race; `background` runs on its own thread until the callers finish.
template <typename Background>
RaceOutcome run_race(RedisServer& server, Background background) {
  auto client = server.make_client(kThreads);
  FirstComeCouponIssuer issuer(*client);
  register_race_coupon(*client, issuer, kCoupons);

  RaceOutcome outcome;
  outcome.results.resize(kCalls);
  outcome.lowest_stock_seen = kCoupons;
  std::atomic<int> next_call{0};
  std::atomic<bool> done{false};
  std::mutex errors_mutex;

  auto& admin = server.admin();
  std::thread sampler([&] {
    while (!done) {
      const long long stock = admin.execute({{"GET", kStockKey}, kStockKey, {}}).as_integer();
      outcome.lowest_stock_seen = std::min(outcome.lowest_stock_seen, stock);
      ++outcome.stock_samples;
      std::this_thread::sleep_for(5ms);
    }
  });
  std::thread background_thread([&] { background(done); });

  std::vector<std::thread> callers;
  for (int thread = 0; thread < kThreads; ++thread) {
    callers.emplace_back([&] {
      constexpr int kChunk = 64;
      for (;;) {
        const int first = next_call.fetch_add(kChunk);
        if (first >= kCalls) {
          return;
        }
        for (int call = first; call < std::min(first + kChunk, kCalls); ++call) {
          try {
            outcome.results[call] = issuer.issue(kCoupon, user_name(call % kUsers));
          } catch (const flashsale::Error& error) {
            const std::lock_guard<std::mutex> lock(errors_mutex);
            outcome.errors.emplace_back(error.what());
          }
        }
      }
    });
  }
  for (auto& caller : callers) {
    caller.join();
  }
  done = true;
  background_thread.join();
  sampler.join();
  return outcome;
}

void check_race(RedisServer& server, const RaceOutcome& outcome) {
  REQUIRE(outcome.errors.empty());

  // Per user: at most one Issued, and every AlreadyIssued names its sequence.
  std::vector<std::int64_t> sequence_of_user(kUsers, 0);
  std::int64_t issued = 0;
  int twice = 0;
  int negative_remaining = 0;
  for (int call = 0; call < kCalls; ++call) {
    const auto& result = outcome.results[call];
    if (result.remaining < 0) {
      ++negative_remaining;
    }
    if (result.status == IssueStatus::Issued) {
      ++issued;
      if (sequence_of_user[call % kUsers] != 0) {
        ++twice;
      }
      sequence_of_user[call % kUsers] = result.sequence;
    }
  }
  int wrong_already = 0;
  int unexpected = 0;
  for (int call = 0; call < kCalls; ++call) {
    const auto& result = outcome.results[call];
    if (result.status == IssueStatus::AlreadyIssued) {
      if (result.sequence != sequence_of_user[call % kUsers]) {
        ++wrong_already;
      }
    } else if (result.status == IssueStatus::SoldOut) {
      if (result.remaining != 0) {
        ++unexpected;
      }
    } else if (result.status != IssueStatus::Issued) {
      ++unexpected;
    }
  }
  CHECK(issued == kCoupons);
  CHECK(twice == 0);
  CHECK(wrong_already == 0);
  CHECK(unexpected == 0);
  CHECK(negative_remaining == 0);
  INFO("stock samples " << outcome.stock_samples);
  CHECK(outcome.lowest_stock_seen >= 0);

  std::set<std::int64_t> result_sequences;
  for (const auto sequence : sequence_of_user) {
    if (sequence != 0) {
      result_sequences.insert(sequence);
    }
  }
  CHECK(result_sequences.size() == static_cast<std::size_t>(kCoupons));

  auto& admin = server.admin();
  CHECK(admin.execute({{"GET", kStockKey}, kStockKey, {}}).as_integer() == 0);
  const std::string issued_key = "fs:coupon:{race}:issued";
  const std::string queue_key = "fs:coupon:{race}:queue";
  CHECK(admin.execute({{"HLEN", issued_key}, issued_key, {}}).as_integer() == kCoupons);
  CHECK(admin.execute({{"ZCARD", queue_key}, queue_key, {}}).as_integer() == kCoupons);

  // The stream: exactly kCoupons `issued` events, sequences exactly 1..kCoupons,
  // each naming the user whose call got that sequence.
  const auto entries = admin.execute({{"XRANGE", kEventsKey, "-", "+"}, kEventsKey, {}});
  REQUIRE(entries.as_array().size() == static_cast<std::size_t>(kCoupons));
  std::vector<std::int64_t> stream_sequences;
  std::set<std::string> stream_users;
  int not_issued_type = 0;
  int wrong_user = 0;
  for (const auto& entry : entries.as_array()) {
    std::map<std::string, std::string> fields;
    const auto& values = entry.as_array().at(1).as_array();
    for (std::size_t index = 0; index + 1 < values.size(); index += 2) {
      fields[values[index].as_string()] = values[index + 1].as_string();
    }
    if (fields["type"] != "issued" || fields["coupon"] != kCoupon) {
      ++not_issued_type;
    }
    const std::int64_t sequence = std::stoll(fields["sequence"]);
    stream_sequences.push_back(sequence);
    const std::string& user = fields["user"];
    stream_users.insert(user);
    const int user_index = std::stoi(user.substr(5));
    if (sequence_of_user.at(user_index) != sequence) {
      ++wrong_user;
    }
  }
  CHECK(not_issued_type == 0);
  CHECK(wrong_user == 0);
  CHECK(stream_users.size() == static_cast<std::size_t>(kCoupons));
  std::sort(stream_sequences.begin(), stream_sequences.end());
  bool exactly_one_to_n = true;
  for (std::int64_t index = 0; index < kCoupons; ++index) {
    exactly_one_to_n = exactly_one_to_n && stream_sequences[index] == index + 1;
  }
  CHECK(exactly_one_to_n);
}

}  // namespace

TEST_CASE("64 threads, 500,000 calls from 100,000 users: exactly 10,000 issued, once each",
          "[coupon][stress]") {
  RedisServer server;
  const auto outcome = run_race(server, [](const std::atomic<bool>&) {});
  check_race(server, outcome);
}

TEST_CASE("the same race with SCRIPT FLUSH every 100 ms surfaces no error and keeps the counts",
          "[coupon][stress]") {
  RedisServer server;
  int flushes = 0;
  const auto outcome = run_race(server, [&](const std::atomic<bool>& done) {
    flashsale::StandaloneClient flusher(server.connection_options());
    while (!done) {
      std::this_thread::sleep_for(100ms);
      flusher.execute({{"SCRIPT", "FLUSH"}, {}, {}});
      ++flushes;
    }
  });
  INFO("flushes " << flushes);
  CHECK(flushes >= 3);
  check_race(server, outcome);
}

TEST_CASE("issuing through two server restarts with AOF: callers retry and nothing is issued twice",
          "[coupon][stress]") {
  constexpr int kRestartThreads = 16;
  constexpr int kRestartUsers = 20'000;
  constexpr std::int64_t kRestartCoupons = 5'000;
  flashsale::testing::RedisServerOptions options;
  options.config_lines = {"appendonly yes", "appendfsync everysec"};
  RedisServer server(options);
  auto client = server.make_client(kRestartThreads);
  FirstComeCouponIssuer issuer(*client);
  register_race_coupon(*client, issuer, kRestartCoupons);

  // Each user asks until it gets an answer; an error (the connection died,
  // the server is still loading its AOF) means "unknown", so it asks again.
  std::vector<IssueResult> answers(kRestartUsers);
  std::atomic<int> next_user{0};
  std::atomic<int> retried{0};
  std::atomic<int> gave_up{0};
  std::vector<std::thread> callers;
  for (int thread = 0; thread < kRestartThreads; ++thread) {
    callers.emplace_back([&] {
      for (int user = next_user++; user < kRestartUsers; user = next_user++) {
        bool answered = false;
        for (int attempt = 0; attempt < 1000 && !answered; ++attempt) {
          try {
            answers[user] = issuer.issue(kCoupon, user_name(user));
            answered = true;
          } catch (const flashsale::Error&) {
            ++retried;
            std::this_thread::sleep_for(10ms);
          }
        }
        if (!answered) {
          ++gave_up;
        }
      }
    });
  }
  for (int restart = 0; restart < 2; ++restart) {
    while (next_user < kRestartCoupons * (restart + 1) / 4) {
      std::this_thread::sleep_for(1ms);
    }
    // Mid-way: stock is left when the server goes down, and it is all issued
    // in the end, so issuing went on after the restart.
    CHECK(stock_once_loaded(server) > 0);
    server.restart();
  }
  for (auto& caller : callers) {
    caller.join();
  }
  INFO("calls retried after an error: " << retried);
  REQUIRE(gave_up == 0);
  CHECK(retried > 0);

  std::map<std::string, std::int64_t> told;  // user -> the sequence a call reported
  for (int user = 0; user < kRestartUsers; ++user) {
    const auto& answer = answers[user];
    if (answer.status == IssueStatus::Issued || answer.status == IssueStatus::AlreadyIssued) {
      told[user_name(user)] = answer.sequence;
    } else {
      CHECK(answer.status == IssueStatus::SoldOut);
    }
  }
  CHECK(told.size() == static_cast<std::size_t>(kRestartCoupons));

  const std::string issued_key = "fs:coupon:{race}:issued";
  const auto holders = client->execute({{"HGETALL", issued_key}, issued_key, {}}).as_array();
  std::map<std::string, std::int64_t> held;
  for (std::size_t index = 0; index + 1 < holders.size(); index += 2) {
    held[holders[index].as_string()] = holders[index + 1].as_integer();
  }
  CHECK(held == told);

  std::set<std::int64_t> sequences;
  for (const auto& [user, sequence] : told) {
    sequences.insert(sequence);
  }
  CHECK(sequences.size() == static_cast<std::size_t>(kRestartCoupons));
  CHECK(*sequences.begin() == 1);
  CHECK(*sequences.rbegin() == kRestartCoupons);
  CHECK(client->execute({{"XLEN", kEventsKey}, kEventsKey, {}}).as_integer() == kRestartCoupons);
  const auto stats = issuer.stats(kCoupon);
  REQUIRE(stats.has_value());
  CHECK(stats->issued == kRestartCoupons);
  CHECK(stats->remaining == 0);
}
