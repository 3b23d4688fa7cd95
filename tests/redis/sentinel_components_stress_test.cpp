// The other components through a real Sentinel failover (3 sentinels, 1
// master, 1 replica, AOF everysec, down-after 1 s), each on a SentinelClient
// with durability on (WAIT 1): the master is SIGKILLed while they work, the
// replica is promoted, the old master is restarted and demoted. Callers retry
// what surfaced as ConnectionError (the call may have run) or DurabilityError
// with the same ids, as a host must; afterwards each component's invariant is
// checked on the new master. The coupon and stock races themselves are in
// sentinel_failover_stress_test.cpp. Test names keep their ": " early:
// Catch2 2.13 indents a wrapped header to just after it, and loops forever
// printing a header whose ": " lies beyond the console width.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "coupon_failure_race.hpp"
#include "flashsale/durability.hpp"
#include "flashsale/error.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sentinel_client.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/stream_consumer.hpp"
#include "redis_sentinel.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::SentinelClient;
using flashsale::testing::RedisSentinelGroup;
using flashsale::testing::RedisSentinelOptions;

namespace {

constexpr int kThreads = 16;
constexpr int kMaxAttempts = 3'000;

RedisSentinelOptions aof_deployment() {
  RedisSentinelOptions options;
  options.config_lines = {"appendonly yes", "appendfsync everysec"};
  return options;
}

flashsale::SentinelClientOptions durable_client_options(const RedisSentinelGroup& group) {
  auto options = group.client_options(kThreads + 2);
  options.connection.durability.replicas = 1;
  options.connection.durability.timeout = 500ms;
  return options;
}

// The failover: SIGKILL of the master, the replica promoted, the old master
// restarted from its AOF and demoted (replicating again). `killed` runs
// right after the SIGKILL.
void fail_over(RedisSentinelGroup& group, const std::function<void()>& killed) {
  const std::size_t old_master = group.master_index();
  group.node(old_master).kill();
  killed();
  group.wait_for_failover(old_master);
  group.node(old_master).restart();
  group.wait_until_stable();
}

struct Retries {
  std::atomic<int> retried{0};            // calls sent again with the same ids
  std::atomic<int> durability_errors{0};  // of them, after a DurabilityError
};

// Sends `call` until it answers: ConnectionError (TimeoutError included) and
// DurabilityError leave the outcome unknown, and every call here is
// idempotent per id, so the same call goes again.
template <typename Call>
auto until_answered(Call call, Retries& retries) -> decltype(call()) {
  for (int attempt = 1;; ++attempt) {
    try {
      return call();
    } catch (const flashsale::DurabilityError&) {
      ++retries.durability_errors;
      if (attempt == kMaxAttempts) {
        throw;
      }
    } catch (const flashsale::ConnectionError&) {
      if (attempt == kMaxAttempts) {
        throw;
      }
    }
    ++retries.retried;
    std::this_thread::sleep_for(20ms);
  }
}

// Runs work(item) for items 0..count-1 on kThreads threads, fails the group
// over once a quarter of the items have started, and returns what reached
// the callers other than retried errors, plus how many items ended after the
// master was killed (by the promoted replica).
struct RaceOutcome {
  std::vector<std::string> errors;
  int done_after_kill = 0;
};

RaceOutcome race_through_failover(RedisSentinelGroup& group, int count,
                                  const std::function<void(int)>& work) {
  RaceOutcome outcome;
  std::atomic<int> next{0};
  std::atomic<int> done{0};
  std::mutex errors_mutex;
  std::vector<std::thread> workers;
  for (int thread = 0; thread < kThreads; ++thread) {
    workers.emplace_back([&] {
      for (int item = next++; item < count; item = next++) {
        try {
          work(item);
        } catch (const std::exception& error) {
          const std::lock_guard<std::mutex> lock(errors_mutex);
          outcome.errors.emplace_back(error.what());
        }
        ++done;
      }
    });
  }
  while (next < count / 4) {
    std::this_thread::sleep_for(1ms);
  }
  int done_at_kill = 0;
  try {
    fail_over(group, [&] { done_at_kill = done.load(); });
  } catch (...) {
    next = count;  // the workers stop after their current item
    for (auto& worker : workers) {
      worker.join();
    }
    throw;
  }
  for (auto& worker : workers) {
    worker.join();
  }
  outcome.done_after_kill = done.load() - done_at_kill;
  return outcome;
}

}  // namespace

TEST_CASE(
    "StreamConsumer through a Sentinel failover: it keeps running, every issue acknowledged "
    "with durability is handled, nothing is left pending",
    "[sentinel][failover][stream][durability][stress]") {
  RedisSentinelGroup group(aof_deployment());
  SentinelClient client(durable_client_options(group));
  flashsale::testing::CouponFailureRaceOptions race;
  race.threads = kThreads;
  race.users = 6'000;
  race.units = 3'000;
  const std::string stream = "fs:coupon:{" + race.coupon + "}:events";

  flashsale::StreamConsumerOptions options;
  options.streams = {stream};
  options.group = "workers";
  options.consumer = "worker-1";
  options.block_timeout = 100ms;
  options.retry_backoff = 200ms;
  options.claim_interval = 1s;
  options.claim_idle = 5s;
  flashsale::StreamConsumer consumer(client, options);
  std::mutex handled_mutex;
  std::map<std::string, std::set<std::string>> handled;  // user -> sequences handled
  std::atomic<int> handled_entries{0};
  std::exception_ptr consumer_failure;
  std::thread runner;
  // Started once the coupon is registered (the race registers it).
  race.registered = [&] {
    runner = std::thread([&] {
      try {
        consumer.run([&](const flashsale::StreamMessage& message) {
          std::map<std::string, std::string> fields(message.fields.begin(), message.fields.end());
          if (fields["type"] == "issued") {
            const std::lock_guard<std::mutex> lock(handled_mutex);
            handled[fields["user"]].insert(fields["sequence"]);
          }
          ++handled_entries;
          return flashsale::HandlerOutcome::Ack;
        });
      } catch (...) {
        consumer_failure = std::current_exception();
      }
    });
  };

  int handled_at_kill = 0;
  const auto outcome =
      flashsale::testing::run_coupon_failure_race(client, race, [&](const std::atomic<int>&) {
        fail_over(group, [&] { handled_at_kill = handled_entries.load(); });
      });
  INFO("told " << outcome.told << ", lost " << outcome.lost << ", retried " << outcome.retried
               << ", durability errors " << outcome.durability_errors << ", first error "
               << (outcome.errors.empty() ? "" : outcome.errors.front()));
  CHECK(outcome.errors.empty());
  CHECK(outcome.retried > 0);
  CHECK(outcome.whole);
  CHECK(outcome.lost == 0);
  CHECK(outcome.told == race.units);

  // Every unit held at the end (each one a caller was told, lost == 0) has
  // been handled with its sequence, and the group's pending list empties.
  const std::string issued = "fs:coupon:{" + race.coupon + "}:issued";
  const auto holders = client.execute({{"HGETALL", issued}, issued, {}});
  const auto unhandled = [&] {
    const auto& items = holders.as_array();
    const std::lock_guard<std::mutex> lock(handled_mutex);
    int missing = 0;
    for (std::size_t index = 0; index + 1 < items.size(); index += 2) {
      const auto at = handled.find(items[index].as_string());
      missing += at == handled.end() || at->second.count(items[index + 1].as_string()) == 0 ? 1 : 0;
    }
    return missing;
  };
  const bool all_handled = flashsale::testing::eventually([&] {
    return consumer_failure ||
           (unhandled() == 0 && flashsale::testing::pending_count(client, stream, "workers") == 0);
  });
  consumer.stop();
  runner.join();
  if (consumer_failure) {
    try {
      std::rethrow_exception(consumer_failure);
    } catch (const std::exception& error) {
      FAIL("StreamConsumer::run() ended with " << error.what());
    }
  }
  INFO("entries handled " << handled_entries.load() << ", when the master was killed "
                          << handled_at_kill);
  CHECK(all_handled);
  CHECK(holders.as_array().size() == 2 * static_cast<std::size_t>(race.units));
  CHECK(unhandled() == 0);
  CHECK(handled_entries.load() > handled_at_kill);  // it went on with the new master
  CHECK(flashsale::testing::pending_count(client, stream, "workers") == 0);
  CHECK(consumer.stats().pending == 0);
  WARN("issues told " << outcome.told << ", retried " << outcome.retried << " ("
                      << outcome.durability_errors << " after DurabilityError), entries handled "
                      << handled_entries.load() << " (" << handled_at_kill << " before the kill)");
}

TEST_CASE(
    "ranking through a Sentinel failover: each event id counted once, every score the sum "
    "of its events, aggregate and buckets agree",
    "[sentinel][failover][ranking][durability][stress]") {
  RedisSentinelGroup group(aof_deployment());
  SentinelClient client(durable_client_options(group));
  flashsale::SlidingWindowRankingOptions options;
  options.name = "failover-rank";
  options.window = 24h;
  options.bucket = 1h;
  options.metrics = {{"sales", 1.0}};
  options.mode = flashsale::RankingMode::Incremental;
  flashsale::SlidingWindowRanking ranking(client, options);
  // Every event has its own time, the same on every retry (the id is
  // remembered per bucket); all of them fall in the current window.
  const auto at = flashsale::testing::server_now(client);
  constexpr int kEvents = 6'000;
  constexpr int kMembers = 20;
  const auto member_of = [](int event) { return "product-" + std::to_string(event % kMembers); };
  const auto delta_of = [](int event) { return static_cast<double>(1 + event % 3); };

  Retries retries;
  std::atomic<int> recorded{0};
  std::atomic<int> duplicates{0};
  std::atomic<int> unexpected{0};
  const auto outcome = race_through_failover(group, kEvents, [&](int event) {
    const auto result = until_answered(
        [&] {
          return ranking.record(member_of(event), "sales", delta_of(event), at,
                                "event-" + std::to_string(event));
        },
        retries);
    // A Duplicate answers a retry whose earlier attempt took effect.
    ++(result.status == flashsale::RecordStatus::Recorded    ? recorded
       : result.status == flashsale::RecordStatus::Duplicate ? duplicates
                                                             : unexpected);
  });
  INFO("retried " << retries.retried.load() << ", durability errors "
                  << retries.durability_errors.load() << ", recorded " << recorded.load()
                  << ", duplicates " << duplicates.load() << ", first error "
                  << (outcome.errors.empty() ? "" : outcome.errors.front()));
  REQUIRE(outcome.errors.empty());
  CHECK(retries.retried.load() > 0);
  CHECK(outcome.done_after_kill > 0);
  CHECK(unexpected.load() == 0);
  CHECK(recorded.load() + duplicates.load() == kEvents);
  CHECK(duplicates.load() <= retries.retried.load());
  WARN("events " << kEvents << ", retried " << retries.retried.load() << " ("
                 << retries.durability_errors.load() << " after DurabilityError), answered "
                 << duplicates.load() << " Duplicate, " << outcome.done_after_kill
                 << " recorded after the kill");

  std::map<std::string, double> expected;
  for (int event = 0; event < kEvents; ++event) {
    expected[member_of(event)] += delta_of(event);
  }
  const auto scores = [&] {
    std::map<std::string, double> by_member;
    for (const auto& member : ranking.top(kMembers + 1)) {
      by_member[member.member] = member.score;
    }
    return by_member;
  };
  // The aggregate readers read, and the same rebuilt from the bucket.
  CHECK(scores() == expected);
  ranking.rebuild();
  CHECK(scores() == expected);
}

TEST_CASE(
    "scheduler through a Sentinel failover: 16 runners fire each event exactly once, with "
    "one stream entry, the one its acknowledged promotion named",
    "[sentinel][failover][scheduler][durability][stress]") {
  RedisSentinelGroup group(aof_deployment());
  SentinelClient client(durable_client_options(group));
  flashsale::SaleScheduler scheduler(client);
  const std::string schedule = "failover-sched";
  constexpr int kEvents = 3'000;
  constexpr int kPromoteLimit = 20;
  const auto start = flashsale::testing::server_now(client);
  const auto event_id = [](int event) { return "event-" + std::to_string(event); };

  // Each item schedules one event (due within the first seconds, so most are
  // due while runners promote) and then promotes what is due.
  Retries retries;
  std::atomic<int> unexpected{0};
  std::mutex promoted_mutex;
  std::map<std::string, std::vector<std::string>> promoted;  // event id -> stream ids told
  const auto record_promotion = [&](const flashsale::PromoteResult& result) {
    const std::lock_guard<std::mutex> lock(promoted_mutex);
    for (const auto& event : result.promoted) {
      promoted[event.event_id].push_back(event.stream_id);
    }
  };
  const auto outcome = race_through_failover(group, kEvents, [&](int event) {
    const auto due = start + std::chrono::milliseconds(event);
    const auto scheduled = until_answered(
        [&] { return scheduler.schedule(schedule, event_id(event), due, "payload"); }, retries);
    if (scheduled.status != flashsale::ScheduleStatus::Scheduled &&
        scheduled.status != flashsale::ScheduleStatus::AlreadyScheduled &&
        scheduled.status != flashsale::ScheduleStatus::AlreadyPromoted) {
      ++unexpected;
    }
    record_promotion(
        until_answered([&] { return scheduler.promote_due(schedule, kPromoteLimit); }, retries));
  });
  // What is left due fires now (every event is due by now).
  for (;;) {
    const auto result =
        until_answered([&] { return scheduler.promote_due(schedule, kPromoteLimit); }, retries);
    record_promotion(result);
    if (result.promoted.empty()) {
      break;
    }
  }
  INFO("retried " << retries.retried.load() << ", durability errors "
                  << retries.durability_errors.load() << ", first error "
                  << (outcome.errors.empty() ? "" : outcome.errors.front()));
  REQUIRE(outcome.errors.empty());
  CHECK(retries.retried.load() > 0);
  CHECK(outcome.done_after_kill > 0);
  CHECK(unexpected.load() == 0);

  // Exactly one entry per event in the stream; every promotion a runner was
  // told of (durably acknowledged) named that entry, and no event was told
  // promoted twice.
  std::map<std::string, std::vector<std::string>> entries;  // event id -> stream ids
  for (const auto& entry : flashsale::testing::read_stream(client, scheduler.stream(schedule))) {
    entries[entry.fields.at("event_id")].push_back(entry.id);
  }
  CHECK(entries.size() == static_cast<std::size_t>(kEvents));
  int not_once = 0;
  int told_twice = 0;
  int told_other_entry = 0;
  for (int event = 0; event < kEvents; ++event) {
    const auto& ids = entries[event_id(event)];
    not_once += ids.size() == 1 ? 0 : 1;
    const auto told = promoted.find(event_id(event));
    if (told == promoted.end()) {
      continue;  // promoted by a call that did not answer normally
    }
    told_twice += told->second.size() > 1 ? 1 : 0;
    told_other_entry += ids.size() == 1 && told->second.front() == ids.front() ? 0 : 1;
  }
  CHECK(not_once == 0);
  CHECK(told_twice == 0);
  CHECK(told_other_entry == 0);
  WARN("events " << kEvents << ", retried " << retries.retried.load() << " ("
                 << retries.durability_errors.load() << " after DurabilityError), "
                 << promoted.size() << " told promoted by a call that answered, "
                 << outcome.done_after_kill << " scheduled after the kill");
  const auto stats = scheduler.stats(schedule);
  CHECK(stats.pending == 0);
  CHECK(stats.promoted == kEvents);
  CHECK(scheduler.find(schedule, event_id(kEvents - 1)).state == flashsale::EventState::Promoted);
}
