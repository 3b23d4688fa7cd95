// SlidingWindowRanking against a real redis-server: both modes against an
// in-memory reference model, bucket expiry, weights, ties, the fallback,
// single flight, bounded subtraction, NOSCRIPT and bad input.
#include "flashsale/sliding_window_ranking.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "ranking_test_model.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using flashsale::RankedMember;
using flashsale::RankingMode;
using flashsale::RankingTime;
using flashsale::RecordStatus;
using flashsale::RefreshStatus;
using flashsale::SlidingWindowRanking;
using flashsale::SlidingWindowRankingOptions;
using flashsale::testing::RedisServer;

using namespace flashsale::testing;

namespace {

bool key_exists(RedisServer& server, const std::string& key) {
  return server.admin().execute({{"EXISTS", key}, key, {}}).as_integer() == 1;
}

}  // namespace

TEST_CASE("both modes agree with a reference model while the window slides across many buckets",
          "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  const ManualClock clock(server_now_ms(server));
  auto union_options = test_options("model-union", RankingMode::Union);
  union_options.clock = clock.function();
  auto incremental_options = test_options("model-incremental", RankingMode::Incremental);
  incremental_options.clock = clock.function();
  SlidingWindowRanking union_ranking(*client, union_options);
  SlidingWindowRanking incremental_ranking(*client, incremental_options);
  ReferenceRanking reference(test_metrics());
  const auto metrics = test_metrics();

  std::mt19937 random(20261122);
  std::vector<std::string> members;
  for (int i = 0; i < 40; ++i) {
    members.push_back("p" + std::to_string(10 + i));
  }
  const auto pick = [&](std::size_t size) { return static_cast<std::size_t>(random() % size); };

  int checks = 0;
  int outside = 0;
  int rebuilt = 0;
  std::size_t subtracted = 0;
  const long long start = clock.now();
  constexpr int kSteps = 600;
  for (int step = 0; step < kSteps; ++step) {
    // Mostly small moves, sometimes several buckets, twice past the point
    // where an unsubtracted bucket would have expired.
    if (step == 80 || step == 170) {
      clock.advance(kWindowMs + 2 * kBucketMs + static_cast<long long>(pick(900)));
    } else if (step % 25 == 24) {
      clock.advance(3 * kBucketMs + static_cast<long long>(pick(5000)));
    } else {
      clock.advance(static_cast<long long>(pick(700)));
    }
    const long long now = clock.now();

    std::vector<flashsale::RankingEvent> events;
    const std::size_t event_count = 1 + pick(12);
    for (std::size_t e = 0; e < event_count; ++e) {
      flashsale::RankingEvent event;
      event.member = members[pick(members.size())];
      event.metric = metrics[pick(metrics.size())].name;
      event.delta = static_cast<double>(1 + pick(9));
      const std::size_t when = pick(10);
      if (when < 6) {
        event.at = std::nullopt;  // now
      } else if (when < 9) {
        event.at = from_epoch_ms(now - static_cast<long long>(pick(kWindowMs + 3 * kBucketMs)));
      } else {
        event.at =
            from_epoch_ms(now + static_cast<long long>(pick(3 * kBucketMs)));  // maybe future
      }
      events.push_back(event);
    }
    std::vector<bool> expected_recorded;
    for (const auto& event : events) {
      const std::size_t metric = static_cast<std::size_t>(
          std::find_if(metrics.begin(), metrics.end(),
                       [&](const auto& m) { return m.name == event.metric; }) -
          metrics.begin());
      const long long at = event.at ? to_epoch_ms(*event.at) : now;
      expected_recorded.push_back(reference.record(metric, event.member, event.delta, at, now));
    }

    std::vector<flashsale::RecordResult> union_results;
    std::vector<flashsale::RecordResult> incremental_results;
    if (step % 2 == 0) {
      union_results = union_ranking.record_many(events);
      incremental_results = incremental_ranking.record_many(events);
    } else {
      for (const auto& event : events) {
        union_results.push_back(
            union_ranking.record(event.member, event.metric, event.delta, event.at));
        incremental_results.push_back(
            incremental_ranking.record(event.member, event.metric, event.delta, event.at));
      }
    }
    for (std::size_t e = 0; e < events.size(); ++e) {
      const auto expected =
          expected_recorded[e] ? RecordStatus::Recorded : RecordStatus::OutsideWindow;
      REQUIRE(union_results[e].status == expected);
      REQUIRE(incremental_results[e].status == expected);
      outside += expected_recorded[e] ? 0 : 1;
    }

    union_ranking.refresh();
    const auto incremental_refresh = incremental_ranking.refresh();
    rebuilt += incremental_refresh.status == RefreshStatus::Rebuilt ? 1 : 0;
    subtracted += incremental_refresh.members_subtracted;

    for (const std::size_t n : {std::size_t{1}, std::size_t{5}, std::size_t{10}, std::size_t{50}}) {
      const std::string expected = describe(reference.top(n, now));
      INFO("step " << step << " n " << n);
      CHECK(describe(union_ranking.top(n)) == expected);
      CHECK(describe(incremental_ranking.top(n)) == expected);
      checks += 2;
    }
    const auto full = reference.top(members.size(), now);
    for (int probe = 0; probe < 2; ++probe) {
      const std::string& member = members[pick(members.size())];
      std::optional<std::size_t> expected_rank;
      std::optional<double> expected_score;
      for (std::size_t i = 0; i < full.size(); ++i) {
        if (full[i].member == member) {
          expected_rank = i;
          expected_score = full[i].score;
        }
      }
      INFO("step " << step << " member " << member);
      CHECK(union_ranking.rank(member) == expected_rank);
      CHECK(incremental_ranking.rank(member) == expected_rank);
      CHECK(union_ranking.score(member) == expected_score);
      CHECK(incremental_ranking.score(member) == expected_score);
      checks += 4;
    }
  }
  const long long buckets_slid = (clock.now() - start) / kBucketMs;
  INFO("buckets slid " << buckets_slid << ", outside " << outside << ", rebuilt " << rebuilt
                       << ", subtracted " << subtracted);
  CHECK(checks >= 1000);
  CHECK(buckets_slid >= 100);
  CHECK(outside > 0);
  CHECK(rebuilt >= 2);
  CHECK(subtracted > 0);  // most bucket changes went through chunked subtraction
}

TEST_CASE("weights multiply each metric's sum and ties rank by member, descending", "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  for (const auto mode : {RankingMode::Union, RankingMode::Incremental}) {
    auto options = mode_options("weights", mode);
    options.window = 1h;
    options.bucket = 1min;
    SlidingWindowRanking ranking(*client, options);
    ranking.record("apple", "sales", 3);    // 3 x 1
    ranking.record("pear", "revenue", 12);  // 12 x 0.25 = 3: ties with apple
    ranking.record("fig", "views", 5);      // 5 x 0.5 = 2.5
    ranking.record("fig", "sales", 1);      // + 1 = 3.5
    ranking.record("kiwi", "revenue", 1);   // 0.25
    ranking.refresh();
    const auto top = ranking.top(10);
    CHECK(describe(top) == describe({{"fig", 3.5}, {"pear", 3}, {"apple", 3}, {"kiwi", 0.25}}));
    CHECK(ranking.rank("pear") == std::optional<std::size_t>(1));
    CHECK(ranking.rank("apple") == std::optional<std::size_t>(2));
    CHECK(ranking.rank("nobody") == std::nullopt);
    CHECK(ranking.score("kiwi") == std::optional<double>(0.25));
    CHECK(ranking.score("nobody") == std::nullopt);
    CHECK(ranking.top(0).empty());
    CHECK(describe(ranking.top(1)) == describe({{"fig", 3.5}}));
  }
}

TEST_CASE(
    "an event without a time goes to the server's current bucket, whose keys expire one "
    "bucket after it leaves the window",
    "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  for (const auto mode : {RankingMode::Union, RankingMode::Incremental}) {
    auto options = mode_options("expiry", mode);
    options.bucket = 200ms;
    options.window = 400ms;
    SlidingWindowRanking ranking(*client, options);
    const long long before = server_now_ms(server);
    const auto result = ranking.record("p1", "sales", 2);
    const long long after = server_now_ms(server);
    REQUIRE(result.status == RecordStatus::Recorded);
    const long long bucket = to_epoch_ms(result.bucket_start);
    CHECK(bucket >= before - before % 200);
    CHECK(bucket <= after - after % 200);
    const std::string key = ranking.bucket_key("sales", result.bucket_start);
    const long long ttl = server.admin().execute({{"PTTL", key}, key, {}}).as_integer();
    CHECK(ttl > 0);
    CHECK(ttl <= bucket + 400 + 200 - before);  // expires at bucket start + window + bucket
    ranking.refresh();
    CHECK(describe(ranking.top(5)) == describe({{"p1", 2}}));

    // Once the bucket left the window, the ranking no longer counts it.
    while (server_now_ms(server) < bucket + 400) {
      std::this_thread::sleep_for(20ms);
    }
    // Refreshed, or Rebuilt when this machine stalled for a whole bucket.
    CHECK(ranking.refresh().status != RefreshStatus::Unchanged);
    CHECK(ranking.top(5).empty());
    CHECK_FALSE(key_exists(server, ranking.aggregate_key()));
    // ...and its key is gone: subtracted (Incremental) or expired by its TTL.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (key_exists(server, key) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    CHECK_FALSE(key_exists(server, key));
  }
}

TEST_CASE("incremental subtraction works in chunks and rebuilds when it fell behind", "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  const ManualClock clock(server_now_ms(server));
  auto options = test_options("chunks", RankingMode::Incremental);
  options.clock = clock.function();
  options.incremental_chunk = 10;
  SlidingWindowRanking ranking(*client, options);
  std::vector<flashsale::RankingEvent> events;
  for (int i = 0; i < 95; ++i) {
    events.push_back({"m" + std::to_string(i), "sales", 1, std::nullopt});
    events.push_back({"m" + std::to_string(i), "views", 2, std::nullopt});
  }
  ranking.record_many(events);
  const std::string first_bucket = ranking.bucket_key("sales", from_epoch_ms(clock.now()));
  clock.advance(kBucketMs);
  ranking.record("late", "sales", 4);
  CHECK(ranking.top(200).size() == 96);

  clock.advance(kWindowMs - kBucketMs);  // the first bucket just left the window
  const auto result = ranking.refresh();
  CHECK(result.status == RefreshStatus::Refreshed);
  CHECK(result.members_subtracted == 190);
  CHECK(result.calls >= 19 + 1);  // at most 10 members per call, then "caught up"
  CHECK(describe(ranking.top(200)) == describe({{"late", 4}}));
  CHECK_FALSE(key_exists(server, first_bucket));

  // Nobody refreshed for longer than a bucket after "late" left the window:
  // its bucket may have expired, so refresh rebuilds from the window.
  ranking.record("fresh", "views", 8);
  clock.advance(kWindowMs + kBucketMs);
  ranking.record("newest", "sales", 1);
  const auto rebuilt = ranking.refresh();
  CHECK(rebuilt.status == RefreshStatus::Rebuilt);
  CHECK(describe(ranking.top(10)) == describe({{"newest", 1}}));
  // ...and, refreshed once per bucket, subtraction resumes from the rebuilt
  // frontier without another rebuild.
  ranking.record("newest", "sales", 1);
  for (long long moved = 0; moved < kWindowMs; moved += kBucketMs) {
    clock.advance(kBucketMs);
    CHECK(ranking.refresh().status == RefreshStatus::Refreshed);
  }
  CHECK(ranking.top(10).empty());
}

TEST_CASE("incremental scores with inexact weights fall to zero and are removed", "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  const ManualClock clock(server_now_ms(server));
  auto options = test_options("epsilon", RankingMode::Incremental);
  options.metrics = {{"revenue", 0.001}, {"views", 0.1}};
  options.clock = clock.function();
  SlidingWindowRanking ranking(*client, options);
  std::mt19937 random(7);
  for (int step = 0; step < 30; ++step) {
    std::vector<flashsale::RankingEvent> events;
    for (int i = 0; i < 20; ++i) {
      events.push_back({"p" + std::to_string(random() % 10), i % 2 == 0 ? "revenue" : "views",
                        19.99 + static_cast<double>(random() % 1000) / 7.0, std::nullopt});
    }
    ranking.record_many(events);
    clock.advance(300);
    ranking.refresh();
  }
  CHECK_FALSE(ranking.top(10).empty());
  // Refreshed every 300 ms until every bucket has left the window: each
  // member is subtracted down to (about) zero and removed.
  for (long long moved = 0; moved <= kWindowMs; moved += 300) {
    clock.advance(300);
    CHECK(ranking.refresh().status == RefreshStatus::Refreshed);
  }
  CHECK(ranking.top(10).empty());
  CHECK_FALSE(key_exists(server, ranking.aggregate_key()));
}

TEST_CASE(
    "concurrent union refreshers aggregate once and concurrent incremental refreshers "
    "subtract each member once",
    "[ranking]") {
  RedisServer server;
  auto client = server.make_client(8);
  const ManualClock clock(server_now_ms(server));
  for (const auto mode : {RankingMode::Union, RankingMode::Incremental}) {
    auto options = clocked_options("flight", mode, clock);
    options.incremental_chunk = 5;
    ReferenceRanking reference(test_metrics());
    SlidingWindowRanking writer(*client, options);
    const long long first_bucket = clock.now() - clock.now() % kBucketMs;
    for (int bucket = 0; bucket < 4; ++bucket) {
      std::vector<flashsale::RankingEvent> events;
      for (int i = 0; i < 60; ++i) {
        events.push_back({"m" + std::to_string(i % 23), "sales", 1.0 + i % 3, std::nullopt});
        reference.record(0, events.back().member, events.back().delta, clock.now(), clock.now());
      }
      writer.record_many(events);
      clock.advance(kBucketMs);
    }
    writer.refresh();
    // The first bucket has left the window, but not yet reached its expiry.
    clock.now_ms->store(first_bucket + kWindowMs + kBucketMs / 2);

    constexpr int kThreads = 8;
    std::vector<std::unique_ptr<SlidingWindowRanking>> rankings;
    for (int i = 0; i < kThreads; ++i) {
      rankings.push_back(std::make_unique<SlidingWindowRanking>(*client, options));
    }
    std::atomic<int> refreshed{0};
    std::atomic<int> unchanged{0};
    std::atomic<std::size_t> subtracted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        // Two refreshes per thread: one on a shared instance, one on its own.
        for (SlidingWindowRanking* ranking : {rankings[0].get(), rankings[i].get()}) {
          const auto result = ranking->refresh();
          (result.status == RefreshStatus::Unchanged ? unchanged : refreshed)++;
          subtracted += result.members_subtracted;
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    const auto expected = describe(reference.top(50, clock.now()));
    CHECK(describe(writer.top(50)) == expected);
    if (mode == RankingMode::Union) {
      // The writer refreshed before the window moved; the threads see the
      // moved window and exactly one of them aggregates it.
      CHECK(refreshed == 1);
      CHECK(unchanged == 2 * kThreads - 1);
    } else {
      CHECK(subtracted == 23);  // the bucket's 23 distinct members, each once
    }
  }
}

TEST_CASE("top_or_fallback serves the host's copy when the server is down", "[ranking]") {
  RedisServer server;
  auto options = server.connection_options();
  options.connect_timeout = 300ms;
  flashsale::StandaloneClient client(options, flashsale::PoolOptions{2, 1s});
  auto ranking_options = test_options("fallback", RankingMode::Union);
  ranking_options.window = 1h;
  ranking_options.bucket = 1min;
  SlidingWindowRanking ranking(client, ranking_options);
  ranking.record("a", "sales", 5);
  ranking.record("b", "sales", 7);
  ranking.refresh();
  const auto snapshot = ranking.snapshot(10);
  CHECK(describe(snapshot.members) == describe({{"b", 7}, {"a", 5}}));
  const long long taken = to_epoch_ms(snapshot.taken_at);
  CHECK(std::llabs(taken - server_now_ms(server)) < 60'000);

  std::size_t asked = 0;
  const flashsale::RankingFallback stored = [&](std::size_t n) {
    asked = n;
    return std::vector<RankedMember>{{"stored", 1}};
  };
  const auto live = ranking.top_or_fallback(10, stored);
  CHECK(live.source == flashsale::RankingSource::Redis);
  CHECK(describe(live.members) == describe(snapshot.members));

  server.stop();
  const auto served = ranking.top_or_fallback(3, stored);
  CHECK(served.source == flashsale::RankingSource::Fallback);
  CHECK(describe(served.members) == "stored=1.000000 ");
  CHECK(asked == 3);
  CHECK_THROWS_AS(ranking.top(3), flashsale::ConnectionError);
}

TEST_CASE("every ranking script works again after SCRIPT FLUSH", "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  const ManualClock clock(server_now_ms(server));
  for (const auto mode : {RankingMode::Union, RankingMode::Incremental}) {
    auto options = clocked_options("flush", mode, clock);
    SlidingWindowRanking ranking(*client, options);
    ranking.record("x", "sales", 1);
    ranking.refresh();
    server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
    CHECK(ranking.record("x", "sales", 2).status == RecordStatus::Recorded);
    server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
    CHECK(ranking.record_many({{"y", "views", 2, std::nullopt}}).at(0).status ==
          RecordStatus::Recorded);
    server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
    ranking.refresh();
    CHECK(describe(ranking.top(5)) == describe({{"x", 3}, {"y", 1}}));
    clock.advance(kWindowMs);
    server.admin().execute({{"SCRIPT", "FLUSH"}, {}, {}});
    ranking.refresh();  // Incremental: the subtraction script
    CHECK(ranking.top(5).empty());
  }
}

TEST_CASE("bad options and arguments raise InvalidArgument and send nothing", "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  const auto good = test_options("bad-input", RankingMode::Incremental);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  std::vector<SlidingWindowRankingOptions> bad_options;
  const auto with = [&](auto change) {
    auto options = good;
    change(options);
    bad_options.push_back(options);
  };
  with([](SlidingWindowRankingOptions& o) { o.name = ""; });
  with([](SlidingWindowRankingOptions& o) { o.name = "a{b}"; });
  with([](SlidingWindowRankingOptions& o) { o.window = 2500ms; });  // not a multiple of the bucket
  with([](SlidingWindowRankingOptions& o) { o.window = 0ms; });
  with([](SlidingWindowRankingOptions& o) { o.window = -10s; });
  with([](SlidingWindowRankingOptions& o) { o.bucket = 0ms; });
  with([](SlidingWindowRankingOptions& o) { o.bucket = -1s; });
  with([](SlidingWindowRankingOptions& o) { o.metrics.clear(); });
  with([&](SlidingWindowRankingOptions& o) { o.metrics[1].weight = nan; });
  with([&](SlidingWindowRankingOptions& o) { o.metrics[1].weight = inf; });
  with([](SlidingWindowRankingOptions& o) { o.metrics[1].weight = 0; });
  with([](SlidingWindowRankingOptions& o) { o.metrics[1].weight = -1; });
  with([](SlidingWindowRankingOptions& o) { o.metrics[1].name = "sales"; });  // twice
  with([](SlidingWindowRankingOptions& o) { o.metrics[1].name = "a:b"; });
  with([](SlidingWindowRankingOptions& o) { o.metrics[1].name = ""; });
  with([](SlidingWindowRankingOptions& o) {
    o.metrics[1].name = "seen";
  });  // reserved for event ids
  with([](SlidingWindowRankingOptions& o) { o.incremental_chunk = 0; });
  with([&](SlidingWindowRankingOptions& o) { o.zero_epsilon = nan; });
  with([](SlidingWindowRankingOptions& o) { o.zero_epsilon = -1; });
  with([](SlidingWindowRankingOptions& o) { o.key_prefix = "a b"; });
  with([](SlidingWindowRankingOptions& o) {
    o.window = 24h;
    o.bucket = 1s;  // 86,400 buckets: too many keys for one window
  });

  long long before = server.commands_processed();
  for (const auto& options : bad_options) {
    CHECK_THROWS_AS(SlidingWindowRanking(*client, options), flashsale::InvalidArgument);
  }
  CHECK(server.commands_processed() == before + 1);

  SlidingWindowRanking ranking(*client, good);
  ranking.record("kept", "sales", 1);
  const auto keys_before = server.admin().execute({{"DBSIZE"}, {}, {}}).as_integer();
  before = server.commands_processed();
  CHECK_THROWS_AS(ranking.record("", "sales", 1), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record(std::string(2000, 'x'), "sales", 1), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record("p", "returns", 1), flashsale::InvalidArgument);  // unknown metric
  CHECK_THROWS_AS(ranking.record("p", "sales", nan), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record("p", "sales", inf), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record("p", "sales", -inf), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record("p", "sales", 0), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record("p", "sales", -2), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record("p", "sales", 1, from_epoch_ms(-5)), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record("p", "sales", 1, std::nullopt, std::string(300, 'i')),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(
      ranking.record_many({{"ok", "sales", 1, std::nullopt}, {"bad", "sales", nan, {}}}),
      flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.record_many({{"ok", "sales", 1, std::nullopt}, {"", "sales", 1, {}}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.top(flashsale::kMaxRankingTopN + 1), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.snapshot(flashsale::kMaxRankingTopN + 1), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.rank(""), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.score(""), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.top_or_fallback(3, {}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(ranking.bucket_key("returns", from_epoch_ms(0)), flashsale::InvalidArgument);
  CHECK(server.commands_processed() == before + 1);
  CHECK(server.admin().execute({{"DBSIZE"}, {}, {}}).as_integer() == keys_before);
  CHECK(describe(ranking.top(5)) == describe({{"kept", 1}}));
}

TEST_CASE("a window of the most bucket keys allowed refreshes in one script call", "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  // A fixed clock: with the server's, a bucket boundary passing between the
  // client's guess and the script would cost one more call.
  const ManualClock clock(server_now_ms(server));
  for (const auto mode : {RankingMode::Union, RankingMode::Incremental}) {
    auto options = clocked_options("widest", mode, clock);
    options.bucket = 1s;
    options.window = std::chrono::seconds(flashsale::kMaxRankingWindowKeys / 3);  // 3 metrics
    SlidingWindowRanking ranking(*client, options);
    ranking.record("first", "sales", 2);
    ranking.record("old", "views", 2, from_epoch_ms(clock.now() - 900'000));
    const auto result = ranking.rebuild();
    CHECK(result.status == RefreshStatus::Refreshed);
    CHECK(result.calls == 1);
    CHECK(describe(ranking.top(5)) == describe({{"first", 2}, {"old", 1}}));
  }
}

TEST_CASE("an event sent again with its event id is counted once", "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  const ManualClock clock(server_now_ms(server));
  for (const auto mode : {RankingMode::Union, RankingMode::Incremental}) {
    auto options = clocked_options("event-ids", mode, clock);
    SlidingWindowRanking ranking(*client, options);
    const auto sold_at = from_epoch_ms(clock.now() - 2 * kBucketMs);
    CHECK(ranking.record("a", "sales", 2, sold_at, "order-1").status == RecordStatus::Recorded);
    // The retry after a timeout: same id, same time.
    CHECK(ranking.record("a", "sales", 2, sold_at, "order-1").status == RecordStatus::Duplicate);
    const auto results = ranking.record_many({{"a", "sales", 2, sold_at, "order-1"},
                                              {"a", "sales", 3, sold_at, "order-2"},
                                              {"a", "sales", 3, sold_at, "order-2"},
                                              {"a", "sales", 1, sold_at}});  // no id
    REQUIRE(results.size() == 4);
    CHECK(results[0].status == RecordStatus::Duplicate);
    CHECK(results[1].status == RecordStatus::Recorded);
    CHECK(results[2].status == RecordStatus::Duplicate);
    CHECK(results[3].status == RecordStatus::Recorded);
    ranking.refresh();
    CHECK(ranking.score("a") == std::optional<double>(2 + 3 + 1));
    const std::string seen = "fs:rank:{" + options.name +
                             "}:seen:" + std::to_string(to_epoch_ms(results[0].bucket_start));
    CHECK(server.admin().execute({{"SCARD", seen}, seen, {}}).as_integer() == 2);
    CHECK(server.admin().execute({{"PTTL", seen}, seen, {}}).as_integer() > 0);
  }
}

TEST_CASE("a member whose weighted score is at or below zero_epsilon is listed by neither mode",
          "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  const ManualClock clock(server_now_ms(server));
  for (const auto mode : {RankingMode::Union, RankingMode::Incremental}) {
    auto options =
        test_options(mode == RankingMode::Union ? "tiny-union" : "tiny-incremental", mode);
    options.zero_epsilon = 1e-9;
    options.clock = clock.function();
    SlidingWindowRanking ranking(*client, options);
    INFO((mode == RankingMode::Union ? "union" : "incremental"));
    REQUIRE(ranking.record("tiny", "sales", 1e-10).status == RecordStatus::Recorded);
    REQUIRE(ranking.record("big", "sales", 2).status == RecordStatus::Recorded);
    ranking.refresh();
    CHECK_FALSE(ranking.rank("tiny").has_value());
    CHECK_FALSE(ranking.score("tiny").has_value());
    CHECK(ranking.rank("big") == std::optional<std::size_t>(0));
    CHECK(ranking.score("big") == std::optional<double>(2));
    const auto top = ranking.top(10);
    REQUIRE(top.size() == 1);
    CHECK(top[0].member == "big");
    CHECK(ranking.snapshot(10).members.size() == 1);
    // Enough tiny deltas add up to a listed score in both modes alike.
    for (int i = 0; i < 20; ++i) {
      ranking.record("tiny", "sales", 1e-10);
    }
    ranking.refresh();
    CHECK(ranking.rank("tiny") == std::optional<std::size_t>(1));
  }
}

TEST_CASE(
    "a record that would lift a bucket score past kMaxRankingScore is refused and every "
    "later refresh still works",
    "[ranking]") {
  RedisServer server;
  auto client = server.make_client(2);
  const ManualClock clock(server_now_ms(server));
  for (const auto mode : {RankingMode::Union, RankingMode::Incremental}) {
    auto options =
        test_options(mode == RankingMode::Union ? "huge-union" : "huge-incremental", mode);
    options.metrics = {{"sales", 1.0}};
    options.clock = clock.function();
    SlidingWindowRanking ranking(*client, options);
    INFO((mode == RankingMode::Union ? "union" : "incremental"));
    // One event above the limit can never be recorded: refused before I/O.
    CHECK_THROWS_AS(ranking.record("p", "sales", 1e308), flashsale::InvalidArgument);
    const double big = flashsale::kMaxRankingScore * 0.6;
    REQUIRE(ranking.record("p", "sales", big).status == RecordStatus::Recorded);
    CHECK(ranking.record("p", "sales", big, std::nullopt, "e-2").status ==
          RecordStatus::ScoreLimit);
    // Refused means nothing written: the event id is not remembered either.
    CHECK(ranking.record("p", "sales", 1, std::nullopt, "e-2").status == RecordStatus::Recorded);
    REQUIRE(ranking.record("q", "sales", big).status == RecordStatus::Recorded);
    clock.advance(kBucketMs);
    REQUIRE(ranking.record("p", "sales", big).status == RecordStatus::Recorded);
    ranking.refresh();
    const auto top = ranking.top(10);
    REQUIRE(top.size() == 2);
    CHECK(top[0].member == "p");
    CHECK(std::isfinite(top[0].score));
    // The whole window slides out: every subtraction call succeeds.
    for (long long moved = 0; moved <= kWindowMs + kBucketMs; moved += kBucketMs / 2) {
      clock.advance(kBucketMs / 2);
      CHECK_NOTHROW(ranking.refresh());
    }
    CHECK(ranking.top(10).empty());
  }
}
