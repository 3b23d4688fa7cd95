// SlidingWindowRanking under concurrency: many threads record through one
// pooled client while others refresh, round after round as the window slides;
// after each round both modes must equal the reference model exactly.
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "ranking_test_model.hpp"
#include "redis_server.hpp"

using namespace flashsale::testing;
using flashsale::RankingEvent;
using flashsale::RankingMode;
using flashsale::RecordStatus;
using flashsale::SlidingWindowRanking;

TEST_CASE("recording threads racing refreshing threads keep both modes equal to the model",
          "[ranking]") {
  RedisServer server;
  auto client = server.make_client(12);
  const ManualClock clock(server_now_ms(server));
  // Ten times the usual bucket and window: bucket keys get TTLs relative to
  // the manual clock, and a round of this test may take longer in real time
  // than the usual short bucket.
  constexpr long long kBucket = 10 * kBucketMs;
  constexpr long long kWindow = 10 * kWindowMs;
  auto union_options = test_options("stress-union", RankingMode::Union);
  auto incremental_options = test_options("stress-incremental", RankingMode::Incremental);
  for (auto* options : {&union_options, &incremental_options}) {
    options->clock = clock.function();
    options->bucket = std::chrono::milliseconds(kBucket);
    options->window = std::chrono::milliseconds(kWindow);
  }
  incremental_options.incremental_chunk = 3;
  // One instance per mode shared by every thread, as a host would.
  SlidingWindowRanking union_ranking(*client, union_options);
  SlidingWindowRanking incremental_ranking(*client, incremental_options);
  ReferenceRanking reference(test_metrics(), kWindow, kBucket);
  const auto metrics = test_metrics();

  constexpr int kRounds = 60;
  constexpr int kRecorders = 8;
  constexpr int kRefreshers = 2;
  constexpr int kEventsPerRecorder = 40;
  std::mt19937 random(5);
  int compared = 0;
  for (int round = 0; round < kRounds; ++round) {
    clock.advance(static_cast<long long>(random() % 9000));
    const long long now = clock.now();

    // Each recorder's events, drawn up front so the model knows them.
    std::vector<std::vector<RankingEvent>> events(kRecorders);
    for (auto& batch : events) {
      for (int i = 0; i < kEventsPerRecorder; ++i) {
        const std::size_t metric = random() % metrics.size();
        RankingEvent event{"m" + std::to_string(random() % 60), metrics[metric].name,
                           static_cast<double>(1 + random() % 4), std::nullopt};
        if (random() % 3 == 0) {  // back-fill somewhere in the window
          event.at = from_epoch_ms(now - static_cast<long long>(random() % (kWindow - kBucket)));
        }
        const long long at = event.at ? to_epoch_ms(*event.at) : now;
        REQUIRE(reference.record(metric, event.member, event.delta, at, now));
        batch.push_back(event);
      }
    }

    std::atomic<bool> recording{true};
    std::atomic<int> not_recorded{0};
    std::vector<std::thread> threads;
    for (int r = 0; r < kRefreshers; ++r) {
      threads.emplace_back([&] {
        while (recording) {
          union_ranking.refresh();
          incremental_ranking.refresh();
        }
      });
    }
    std::vector<std::thread> recorders;
    for (int r = 0; r < kRecorders; ++r) {
      recorders.emplace_back([&, r] {
        const auto& batch = events[static_cast<std::size_t>(r)];
        for (std::size_t i = 0; i < batch.size(); ++i) {
          const auto& event = batch[i];
          if (i % 2 == 0) {
            not_recorded +=
                union_ranking.record_many({event}).at(0).status != RecordStatus::Recorded;
            not_recorded +=
                incremental_ranking.record_many({event}).at(0).status != RecordStatus::Recorded;
          } else {
            not_recorded +=
                union_ranking.record(event.member, event.metric, event.delta, event.at).status !=
                RecordStatus::Recorded;
            not_recorded +=
                incremental_ranking.record(event.member, event.metric, event.delta, event.at)
                    .status != RecordStatus::Recorded;
          }
        }
      });
    }
    for (auto& recorder : recorders) {
      recorder.join();
    }
    recording = false;
    for (auto& thread : threads) {
      thread.join();
    }
    CHECK(not_recorded == 0);

    union_ranking.refresh();
    incremental_ranking.refresh();
    const auto expected = describe(reference.top(100, now));
    INFO("round " << round);
    CHECK(describe(union_ranking.top(100)) == expected);
    CHECK(describe(incremental_ranking.top(100)) == expected);
    compared += 2;
  }
  CHECK(compared == 2 * kRounds);
}
