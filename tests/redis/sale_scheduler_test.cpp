// SaleScheduler and SaleSchedulerRunner against a real redis-server: firing
// by the server clock, idempotent schedule/reschedule/cancel, bounded
// promotion and catch-up, lateness stats, faults and bad input.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/log.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"
#include "scheduler_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::CancelStatus;
using flashsale::EventState;
using flashsale::RescheduleStatus;
using flashsale::SaleScheduler;
using flashsale::SaleSchedulerRunner;
using flashsale::ScheduleStatus;
using flashsale::testing::eventually;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;
using flashsale::testing::scheduler::entries_per_event;
using flashsale::testing::scheduler::event_name;
using flashsale::testing::scheduler::fired_early;
using flashsale::testing::scheduler::fired_events;

namespace {

const std::string kSchedule = "launch";

void wait_for_server_time_past(flashsale::Client& client,
                               std::chrono::system_clock::time_point at) {
  while (server_now(client) <= at) {
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace

TEST_CASE(
    "an event fires once its time has come by the server clock, with its due and promotion "
    "times",
    "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(2);
  SaleScheduler scheduler(*client);
  const auto fire_at = server_now(*client) + 300ms;
  const auto scheduled = scheduler.schedule(kSchedule, "coupon-open", fire_at, "coupon=summer");
  CHECK(scheduled.status == ScheduleStatus::Scheduled);
  CHECK(scheduled.due_at == fire_at);

  const auto early = scheduler.promote_due(kSchedule, 10);
  CHECK(early.promoted.empty());
  CHECK_FALSE(early.more_due);
  CHECK(scheduler.due(kSchedule, 10).empty());
  const auto pending = scheduler.pending(kSchedule, 10);
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].event_id == "coupon-open");
  CHECK(pending[0].due_at == fire_at);
  CHECK(pending[0].payload == "coupon=summer");
  CHECK(scheduler.find(kSchedule, "coupon-open").state == EventState::Pending);
  CHECK(fired_events(*client, scheduler, kSchedule).empty());

  wait_for_server_time_past(*client, fire_at);
  CHECK(scheduler.due(kSchedule, 10).size() == 1);
  const auto promoted = scheduler.promote_due(kSchedule, 10);
  REQUIRE(promoted.promoted.size() == 1);
  CHECK(promoted.promoted[0].event_id == "coupon-open");
  CHECK(promoted.promoted[0].due_at == fire_at);
  CHECK(promoted.promoted_at >= fire_at);
  CHECK(scheduler.promote_due(kSchedule, 10).promoted.empty());

  const auto fired = fired_events(*client, scheduler, kSchedule);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].event_id == "coupon-open");
  CHECK(fired[0].payload == "coupon=summer");
  CHECK(fired[0].due_at == fire_at);
  CHECK(fired[0].promoted_at == promoted.promoted_at);
  CHECK(fired[0].lateness() >= 0ms);

  const auto info = scheduler.find(kSchedule, "coupon-open");
  CHECK(info.state == EventState::Promoted);
  CHECK(info.due_at == fire_at);
  CHECK(info.settled_at == promoted.promoted_at);
  CHECK(scheduler.find(kSchedule, "never").state == EventState::Unknown);
  CHECK(scheduler.pending(kSchedule, 10).empty());
}

TEST_CASE(
    "schedule, reschedule and cancel are idempotent per event id and a used id never fires "
    "again",
    "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(2);
  SaleScheduler scheduler(*client);
  const auto later = server_now(*client) + 1h;

  CHECK(scheduler.schedule(kSchedule, "a", later, "x").status == ScheduleStatus::Scheduled);
  CHECK(scheduler.schedule(kSchedule, "a", later, "x").status == ScheduleStatus::AlreadyScheduled);
  const auto moved = scheduler.schedule(kSchedule, "a", later + 1s, "x");
  CHECK(moved.status == ScheduleStatus::Conflict);
  CHECK(moved.due_at == later);
  CHECK(scheduler.schedule(kSchedule, "a", later, "y").status == ScheduleStatus::Conflict);

  const auto rescheduled = scheduler.reschedule(kSchedule, "a", later + 2s);
  CHECK(rescheduled.status == RescheduleStatus::Rescheduled);
  CHECK(rescheduled.due_at == later + 2s);
  CHECK(scheduler.reschedule(kSchedule, "a", later + 2s).status == RescheduleStatus::Rescheduled);
  CHECK(scheduler.find(kSchedule, "a").due_at == later + 2s);
  CHECK(scheduler.find(kSchedule, "a").payload == "x");
  CHECK(scheduler.reschedule(kSchedule, "nobody", later).status == RescheduleStatus::UnknownEvent);
  CHECK_FALSE(scheduler.reschedule(kSchedule, "nobody", later).due_at.has_value());

  const auto cancelled = scheduler.cancel(kSchedule, "a");
  CHECK(cancelled.status == CancelStatus::Cancelled);
  CHECK(cancelled.due_at == later + 2s);
  CHECK(scheduler.cancel(kSchedule, "a").status == CancelStatus::AlreadyCancelled);
  CHECK(scheduler.schedule(kSchedule, "a", later, "x").status == ScheduleStatus::AlreadyCancelled);
  CHECK(scheduler.reschedule(kSchedule, "a", later).status == RescheduleStatus::AlreadyCancelled);
  CHECK(scheduler.cancel(kSchedule, "nobody").status == CancelStatus::UnknownEvent);
  CHECK(scheduler.find(kSchedule, "a").state == EventState::Cancelled);

  // A past time fires at the next promotion; afterwards the id is used up.
  const auto past = server_now(*client) - 5s;
  CHECK(scheduler.schedule(kSchedule, "b", past).status == ScheduleStatus::Scheduled);
  REQUIRE(scheduler.promote_due(kSchedule, 10).promoted.size() == 1);
  CHECK(scheduler.schedule(kSchedule, "b", past).status == ScheduleStatus::AlreadyPromoted);
  CHECK(scheduler.reschedule(kSchedule, "b", later).status == RescheduleStatus::AlreadyPromoted);
  const auto too_late = scheduler.cancel(kSchedule, "b");
  CHECK(too_late.status == CancelStatus::AlreadyPromoted);
  CHECK(too_late.due_at == past);
  CHECK(scheduler.promote_due(kSchedule, 10).promoted.empty());

  const auto fired = fired_events(*client, scheduler, kSchedule);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].event_id == "b");
  const auto stats = scheduler.stats(kSchedule);
  CHECK(stats.promoted == 1);
  CHECK(stats.cancelled == 1);
  CHECK(stats.pending == 0);
}

TEST_CASE("event ids and payloads may hold any bytes and due times are rounded up, never early",
          "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(2);
  SaleScheduler scheduler(*client);
  const std::string id("a {b}\n\0c", 9);
  const std::string payload("\0\xff{json: 1}\r\n", 14);
  const auto past = server_now(*client) - 1s + 250us;
  const auto scheduled = scheduler.schedule(kSchedule, id, past, payload);
  CHECK(scheduled.status == ScheduleStatus::Scheduled);
  CHECK(*scheduled.due_at >= past);
  CHECK(*scheduled.due_at - past < 1ms);
  CHECK(scheduler.schedule(kSchedule, "empty-payload", past).status == ScheduleStatus::Scheduled);
  REQUIRE(scheduler.promote_due(kSchedule, 10).promoted.size() == 2);
  const auto fired = fired_events(*client, scheduler, kSchedule);
  REQUIRE(fired.size() == 2);
  CHECK(fired[0].event_id == id);
  CHECK(fired[0].payload == payload);
  CHECK(fired[1].event_id == "empty-payload");
  CHECK(fired[1].payload.empty());
}

TEST_CASE("a promotion moves at most its limit, oldest due time first, and says when more are due",
          "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(2);
  SaleScheduler scheduler(*client);
  const auto now = server_now(*client);
  for (int index = 0; index < 25; ++index) {
    // Scheduled out of order; due 25 s .. 1 s ago.
    const int event = (index * 7) % 25;
    scheduler.schedule(kSchedule, event_name(event), now - 25s + std::chrono::seconds(event));
  }
  scheduler.schedule(kSchedule, "future", now + 1h);

  std::vector<std::string> order;
  std::vector<std::size_t> sizes;
  for (;;) {
    const auto result = scheduler.promote_due(kSchedule, 10);
    sizes.push_back(result.promoted.size());
    for (const auto& event : result.promoted) {
      order.push_back(event.event_id);
    }
    if (!result.more_due) {
      break;
    }
  }
  CHECK(sizes == std::vector<std::size_t>{10, 10, 5});
  REQUIRE(order.size() == 25);
  for (int event = 0; event < 25; ++event) {
    CHECK(order[static_cast<std::size_t>(event)] == event_name(event));
  }
  const auto stats = scheduler.stats(kSchedule);
  CHECK(stats.pending == 1);
  CHECK(stats.overdue == 0);
  CHECK_FALSE(stats.oldest_overdue_age.has_value());
}

TEST_CASE(
    "a runner that was down catches up on a minute of due events in calls of at most its "
    "batch size",
    "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(4);
  SaleScheduler scheduler(*client);
  // What a minute of downtime leaves: 3000 events due over the last 60 s.
  constexpr int kEvents = 3000;
  const auto now = server_now(*client);
  for (int event = 0; event < kEvents; ++event) {
    scheduler.schedule(kSchedule, event_name(event), now - 60s + event * 20ms);
  }
  const auto before = scheduler.stats(kSchedule);
  CHECK(before.overdue == kEvents);
  REQUIRE(before.oldest_overdue_age.has_value());
  CHECK(*before.oldest_overdue_age >= 60s);

  flashsale::SaleSchedulerRunnerOptions options;
  options.poll_interval = 50ms;
  options.batch_size = 250;
  SaleSchedulerRunner runner(scheduler, {kSchedule}, options);
  CHECK(eventually([&] { return runner.promoted() == kEvents; }));
  runner.stop();
  CHECK(runner.failures() == 0);
  // Each call moved at most 250: at least 3000 / 250 calls.
  CHECK(runner.calls() >= kEvents / 250);
  const auto fired = fired_events(*client, scheduler, kSchedule);
  CHECK(fired.size() == kEvents);
  CHECK(entries_per_event(fired).size() == kEvents);
  CHECK(fired_early(fired) == 0);
  // Oldest first across calls: the stream is in due order.
  CHECK(std::is_sorted(fired.begin(), fired.end(),
                       [](const auto& a, const auto& b) { return a.due_at < b.due_at; }));
  CHECK(scheduler.stats(kSchedule).overdue == 0);
}

TEST_CASE(
    "stats report lateness percentiles within 1/16 of the stream's own figures and the "
    "overdue count",
    "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(2);
  SaleScheduler scheduler(*client);
  CHECK_FALSE(scheduler.stats(kSchedule).lateness_p50.has_value());
  const auto now = server_now(*client);
  // Lateness spread from 0 to about 20 s, in two promotions.
  for (int event = 0; event < 400; ++event) {
    scheduler.schedule(kSchedule, event_name(event),
                       now - std::chrono::milliseconds(event * event / 8));
  }
  scheduler.schedule(kSchedule, "later", now + 1h);
  scheduler.promote_due(kSchedule, 200);
  scheduler.promote_due(kSchedule, 200);
  scheduler.cancel(kSchedule, "later");
  for (int event = 0; event < 3; ++event) {
    scheduler.schedule(kSchedule, "waiting-" + std::to_string(event), now - 2s);
  }

  auto fired = fired_events(*client, scheduler, kSchedule);
  REQUIRE(fired.size() == 400);
  std::vector<long long> lateness;
  for (const auto& event : fired) {
    lateness.push_back(event.lateness().count());
  }
  std::sort(lateness.begin(), lateness.end());
  const auto stats = scheduler.stats(kSchedule);
  CHECK(stats.promoted == 400);
  CHECK(stats.cancelled == 1);
  CHECK(stats.pending == 3);
  CHECK(stats.overdue == 3);
  REQUIRE(stats.oldest_overdue_age.has_value());
  CHECK(*stats.oldest_overdue_age >= 2s);
  REQUIRE(stats.lateness_max.has_value());
  CHECK(stats.lateness_max->count() == lateness.back());
  const auto within = [](std::chrono::milliseconds reported, long long exact) {
    INFO("reported " << reported.count() << " ms, exact " << exact << " ms");
    CHECK(reported.count() >= exact);
    CHECK(reported.count() <= exact + exact / 16 + 1);
  };
  within(*stats.lateness_p50, lateness[199]);  // rank ceil(0.5 * 400) = 200
  within(*stats.lateness_p99, lateness[395]);  // rank ceil(0.99 * 400) = 396
}

TEST_CASE("several runners in one process promote every event once and stop cleanly",
          "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(8);
  SaleScheduler scheduler(*client);
  const auto now = server_now(*client);
  for (int event = 0; event < 500; ++event) {
    scheduler.schedule(kSchedule, event_name(event), now + event * 2ms);
    scheduler.schedule("other", event_name(event), now + event * 2ms);
  }
  flashsale::SaleSchedulerRunnerOptions options;
  options.poll_interval = 10ms;
  options.poll_jitter = 5ms;
  options.batch_size = 7;
  std::vector<std::unique_ptr<SaleSchedulerRunner>> runners;
  for (int runner = 0; runner < 4; ++runner) {
    runners.push_back(std::make_unique<SaleSchedulerRunner>(
        scheduler, std::vector<std::string>{kSchedule, "other"}, options));
  }
  CHECK(eventually([&] {
    return scheduler.stats(kSchedule).promoted == 500 && scheduler.stats("other").promoted == 500;
  }));
  std::size_t promoted = 0;
  for (auto& runner : runners) {
    runner->stop();
    runner->stop();
    promoted += runner->promoted();
    CHECK(runner->failures() == 0);
  }
  CHECK(promoted == 1000);
  for (const auto* schedule : {"launch", "other"}) {
    const auto fired = fired_events(*client, scheduler, schedule);
    CHECK(fired.size() == 500);
    CHECK(entries_per_event(fired).size() == 500);
    CHECK(fired_early(fired) == 0);
  }
}

TEST_CASE("a runner logs failed promotions while the server is down and then promotes again",
          "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(2);
  SaleScheduler scheduler(*client);
  std::atomic<int> warnings{0};
  flashsale::set_log_sink([&](flashsale::LogLevel level, std::string_view) {
    warnings += level == flashsale::LogLevel::Warning ? 1 : 0;
  });
  struct RestoreLogSink {
    ~RestoreLogSink() { flashsale::set_log_sink({}); }
  } restore_log_sink;  // after the runner has stopped, even when a check throws
  flashsale::SaleSchedulerRunnerOptions options;
  options.poll_interval = 10ms;
  options.poll_jitter = 0ms;
  SaleSchedulerRunner runner(scheduler, {kSchedule}, options);
  server.kill();
  CHECK(eventually([&] { return runner.failures() > 0; }));
  server.restart();
  scheduler.schedule(kSchedule, "after-restart", server_now(*client));
  CHECK(eventually([&] { return runner.promoted() == 1; }));
  runner.stop();
  CHECK(warnings >= static_cast<int>(runner.failures()));
  CHECK(fired_events(*client, scheduler, kSchedule).size() == 1);
}

TEST_CASE("the stream is capped approximately at max_stream_length and 0 means no cap",
          "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(2);
  const auto promoted_stream_length = [&](std::size_t max_stream_length) {
    flashsale::SaleSchedulerOptions options;
    options.max_stream_length = max_stream_length;
    SaleScheduler scheduler(*client, options);
    const std::string schedule = "capped-" + std::to_string(max_stream_length);
    const auto past = server_now(*client) - 1s;
    for (int event = 0; event < 1000; ++event) {
      scheduler.schedule(schedule, event_name(event), past);
    }
    while (scheduler.promote_due(schedule, 1000).more_due) {
    }
    CHECK(scheduler.stats(schedule).promoted == 1000);
    const std::string stream = scheduler.stream(schedule);
    return client->execute({{"XLEN", stream}, stream, {}}).as_integer();
  };
  CHECK(flashsale::SaleSchedulerOptions{}.max_stream_length == 0);
  const long long capped = promoted_stream_length(100);
  CHECK(capped >= 100);
  CHECK(capped < 1000);
  CHECK(promoted_stream_length(0) == 1000);
}

TEST_CASE("bad input raises InvalidArgument, sends nothing and leaves Redis unchanged",
          "[scheduler]") {
  RedisServer server;
  auto client = server.make_client(2);
  flashsale::SaleSchedulerOptions options;
  options.max_promote_per_call = 50;
  options.max_event_id_bytes = 16;
  options.max_payload_bytes = 32;
  SaleScheduler scheduler(*client, options);
  const auto later = server_now(*client) + 1h;
  REQUIRE(scheduler.schedule(kSchedule, "a", later).status == ScheduleStatus::Scheduled);
  const auto digest = [&] {
    return server.admin().execute({{"DEBUG", "DIGEST"}, {}, {}}).as_string();
  };
  const std::string before = digest();

  const auto refused = [&](const char* what, auto&& call) {
    INFO(what);
    const long long processed = server.commands_processed();
    CHECK_THROWS_AS(call(), flashsale::InvalidArgument);
    CHECK(server.commands_processed() == processed + 1);
  };
  const auto epoch = std::chrono::system_clock::time_point{};
  refused("empty schedule", [&] { scheduler.schedule("", "b", later); });
  refused("schedule with a brace", [&] { scheduler.schedule("la{unch", "b", later); });
  refused("schedule with a space", [&] { scheduler.cancel("a b", "a"); });
  refused("schedule too long", [&] { scheduler.stats(std::string(129, 's')); });
  refused("empty event id", [&] { scheduler.schedule(kSchedule, "", later); });
  refused("event id too long", [&] { scheduler.schedule(kSchedule, std::string(17, 'e'), later); });
  refused("payload too long",
          [&] { scheduler.schedule(kSchedule, "b", later, std::string(33, 'p')); });
  refused("time before the epoch", [&] { scheduler.schedule(kSchedule, "b", epoch - 1ms); });
  refused("reschedule before the epoch", [&] { scheduler.reschedule(kSchedule, "a", epoch - 1s); });
  refused("reschedule with an empty id", [&] { scheduler.reschedule(kSchedule, "", later); });
  refused("cancel with an empty id", [&] { scheduler.cancel(kSchedule, ""); });
  refused("find with an id too long", [&] { scheduler.find(kSchedule, std::string(17, 'e')); });
  refused("promotion limit zero", [&] { scheduler.promote_due(kSchedule, 0); });
  refused("promotion limit above the maximum", [&] { scheduler.promote_due(kSchedule, 51); });
  refused("due listing limit zero", [&] { scheduler.due(kSchedule, 0); });
  refused("pending listing limit too large",
          [&] { scheduler.pending(kSchedule, flashsale::kMaxSchedulerListedEvents + 1); });
  refused("stream of an invalid schedule", [&] { scheduler.stream("{x}"); });
  CHECK(digest() == before);

  const auto bad_options = [&](auto change) {
    flashsale::SaleSchedulerOptions bad;
    change(bad);
    return bad;
  };
  const long long processed = server.commands_processed();
  CHECK_THROWS_AS(SaleScheduler(*client, bad_options([](auto& o) { o.key_prefix = "bad prefix"; })),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(SaleScheduler(*client, bad_options([](auto& o) { o.max_promote_per_call = 0; })),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(SaleScheduler(*client, bad_options([](auto& o) {
                    o.max_promote_per_call = flashsale::kMaxSchedulerPromotePerCallLimit + 1;
                  })),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(SaleScheduler(*client, bad_options([](auto& o) { o.max_event_id_bytes = 0; })),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(SaleScheduler(*client, bad_options([](auto& o) {
                    o.max_event_id_bytes = flashsale::kMaxMemberIdBytesLimit + 1;
                  })),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(SaleScheduler(*client, bad_options([](auto& o) { o.max_payload_bytes = 0; })),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(SaleScheduler(*client, bad_options([](auto& o) {
                    o.max_payload_bytes = flashsale::kMaxSchedulerPayloadBytesLimit + 1;
                  })),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(SaleScheduler(*client, bad_options([](auto& o) {
                    o.max_stream_length = flashsale::kMaxStreamLengthLimit + 1;
                  })),
                  flashsale::InvalidArgument);
  const auto bad_runner = [&](std::vector<std::string> schedules, auto change) {
    flashsale::SaleSchedulerRunnerOptions runner_options;
    change(runner_options);
    SaleSchedulerRunner runner(scheduler, std::move(schedules), runner_options);
  };
  const auto unchanged = [](auto&) {};
  CHECK_THROWS_AS(bad_runner({}, unchanged), flashsale::InvalidArgument);
  CHECK_THROWS_AS(bad_runner({"a b"}, unchanged), flashsale::InvalidArgument);
  CHECK_THROWS_AS(bad_runner({kSchedule}, [](auto& o) { o.poll_interval = 0ms; }),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(bad_runner({kSchedule}, [](auto& o) { o.poll_jitter = -1ms; }),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(bad_runner({kSchedule}, [](auto& o) { o.poll_jitter = o.poll_interval + 1ms; }),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(bad_runner({kSchedule}, [](auto& o) { o.batch_size = 0; }),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(bad_runner({kSchedule}, [](auto& o) { o.batch_size = 51; }),
                  flashsale::InvalidArgument);
  CHECK(server.commands_processed() == processed + 1);
  CHECK(digest() == before);
}
