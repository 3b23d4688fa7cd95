// Transient server states are invisible to callers: a server restarted with
// 300,000 keys to read back from its AOF answers LOADING for a while, and
// StandaloneClient sends the refused commands again within
// ConnectionOptions::transient_retry_budget. Coupon callers and a running
// StreamConsumer (unchanged: it only survives ConnectionError by itself) see
// no LOADING, and the consumer keeps running and loses nothing.
#include <atomic>
#include <chrono>
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
#include "flashsale/stream_consumer.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssueResult;
using flashsale::IssueStatus;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;

namespace {

constexpr int kThreads = 8;
constexpr int kUsers = 12'000;
constexpr std::int64_t kUnits = 6'000;
constexpr long long kFillerKeys = 300'000;
const std::string kCoupon = "loading";
const std::string kEvents = "fs:coupon:{loading}:events";

std::string user_name(int user) {
  return "user-" + std::to_string(user);
}

}  // namespace

TEST_CASE(
    "a restart with 300,000 keys to load from the AOF: no LOADING reaches a coupon caller or a "
    "running StreamConsumer, which keeps running and loses nothing",
    "[transient][loading][stress]") {
  flashsale::testing::RedisServerOptions server_options;
  // No RDB preamble: the AOF is replayed command by command, so loading lasts.
  server_options.config_lines = {"appendonly yes", "appendfsync everysec",
                                 "aof-use-rdb-preamble no"};
  RedisServer server(server_options);
  auto& admin = server.admin();
  admin.execute({{"DEBUG", "POPULATE", std::to_string(kFillerKeys), "filler", "64"}, {}, {}});
  // DEBUG POPULATE is not propagated: a rewrite puts the keys into the AOF.
  admin.execute({{"BGREWRITEAOF"}, {}, {}});
  REQUIRE(flashsale::testing::eventually([&] {
    return flashsale::testing::info_number(admin, "persistence", "aof_rewrite_in_progress:") ==
               0.0 &&
           flashsale::testing::info_number(admin, "persistence", "aof_rewrite_scheduled:") == 0.0;
  }));

  auto client = server.make_client(kThreads + 2);
  FirstComeCouponIssuer issuer(*client);
  flashsale::CouponTemplate coupon;
  coupon.id = kCoupon;
  coupon.total = kUnits;
  coupon.opens_at = server_now(*client) - 1h;
  coupon.closes_at = coupon.opens_at + 25h;
  REQUIRE(issuer.register_template(coupon).status == flashsale::RegisterStatus::Created);

  // The consumer: its own client, so its blocking reads never wait for a
  // caller's connection.
  auto consumer_client = server.make_client(2);
  flashsale::StreamConsumerOptions consumer_options;
  consumer_options.streams = {kEvents};
  consumer_options.group = "persist";
  consumer_options.consumer = "worker-1";
  consumer_options.block_timeout = 200ms;
  flashsale::StreamConsumer consumer(*consumer_client, consumer_options);
  std::mutex handled_mutex;
  std::set<std::string> handled_ids;
  std::atomic<bool> consumer_returned{false};
  std::string consumer_failure;
  std::thread consumer_thread([&] {
    try {
      consumer.run([&](const flashsale::StreamMessage& message) {
        const std::lock_guard<std::mutex> lock(handled_mutex);
        handled_ids.insert(message.id);
        return flashsale::HandlerOutcome::Ack;
      });
    } catch (const std::exception& error) {
      consumer_failure = error.what();
    }
    consumer_returned = true;
  });

  // A probe with no budget shows the LOADING window was there to hide.
  flashsale::ConnectionOptions probe_options = server.connection_options();
  probe_options.transient_retry_budget = 0ms;
  probe_options.connect_timeout = 200ms;
  std::atomic<int> loading_seen_by_probe{0};
  std::atomic<bool> done{false};
  std::thread probe([&] {
    while (!done) {
      try {
        flashsale::StandaloneClient once(probe_options, flashsale::PoolOptions{1, 200ms});
        while (!done) {
          once.execute({{"PING"}, {}, {}});
          std::this_thread::sleep_for(1ms);
        }
      } catch (const flashsale::ReplyError& error) {
        loading_seen_by_probe += error.code() == "LOADING" ? 1 : 0;
      } catch (const flashsale::Error&) {
        std::this_thread::sleep_for(1ms);
      }
    }
  });

  // Callers: a ConnectionError (the server went away) means "unknown", so the
  // same call is sent again, as a host must; any other error is recorded.
  std::vector<IssueResult> answers(kUsers);
  std::atomic<int> next_user{0};
  std::atomic<int> connection_errors{0};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> callers;
  for (int thread = 0; thread < kThreads; ++thread) {
    callers.emplace_back([&] {
      for (int user = next_user++; user < kUsers; user = next_user++) {
        for (int attempt = 0;; ++attempt) {
          try {
            answers[user] = issuer.issue(kCoupon, user_name(user));
            break;
          } catch (const flashsale::ConnectionError& error) {
            ++connection_errors;
            if (attempt == 2000) {
              const std::lock_guard<std::mutex> lock(errors_mutex);
              errors.emplace_back(error.what());
              break;
            }
            std::this_thread::sleep_for(5ms);
          } catch (const flashsale::Error& error) {
            const std::lock_guard<std::mutex> lock(errors_mutex);
            errors.emplace_back(error.what());
            break;
          }
        }
      }
    });
  }
  while (next_user < kUsers / 4) {
    std::this_thread::sleep_for(1ms);
  }
  server.restart();  // SIGTERM (the AOF is complete), then loading
  for (auto& caller : callers) {
    caller.join();
  }
  done = true;
  probe.join();

  INFO("LOADING replies seen by the probe without budget: " << loading_seen_by_probe.load());
  INFO("connection errors retried by callers: " << connection_errors.load());
  INFO("first error: " << (errors.empty() ? "" : errors.front()));
  CHECK(errors.empty());
  CHECK(loading_seen_by_probe.load() > 0);

  std::map<std::string, std::int64_t> told;
  for (int user = 0; user < kUsers; ++user) {
    if (answers[user].status == IssueStatus::Issued ||
        answers[user].status == IssueStatus::AlreadyIssued) {
      told[user_name(user)] = answers[user].sequence;
    }
  }
  CHECK(told.size() == static_cast<std::size_t>(kUnits));

  // The consumer is still running and catches up with every event.
  const long long events = client->execute({{"XLEN", kEvents}, kEvents, {}}).as_integer();
  CHECK(events == kUnits);
  const bool caught_up = flashsale::testing::eventually([&] {
    const std::lock_guard<std::mutex> lock(handled_mutex);
    return static_cast<long long>(handled_ids.size()) >= events || consumer_returned;
  });
  CHECK(caught_up);
  CHECK_FALSE(consumer_returned.load());
  consumer.stop();
  consumer_thread.join();
  INFO("consumer failure: " << consumer_failure);
  CHECK(consumer_failure.empty());
  CHECK(static_cast<long long>(handled_ids.size()) == events);
  CHECK(consumer.stats().pending == 0);
}

TEST_CASE("a negative transient_retry_budget raises InvalidArgument at construction",
          "[transient]") {
  flashsale::ConnectionOptions options;
  options.port = 1;  // nothing listens: a refusal before any I/O is the only way out
  options.transient_retry_budget = -1ms;
  CHECK_THROWS_AS(flashsale::StandaloneClient(options), flashsale::InvalidArgument);
  options.transient_retry_budget = 0ms;
  CHECK_NOTHROW(flashsale::StandaloneClient(options));
}
