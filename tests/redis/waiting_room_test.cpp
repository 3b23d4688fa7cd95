// WaitingRoom and WaitingRoomRunner against a real redis-server: tickets and
// positions, admission by rate and cap on the server clock, abandonment,
// token expiry and verification, AOF restart, bounded housekeeping and bad
// input.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/log.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/waiting_room.hpp"
#include "flashsale/waiting_room_runner.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::CompleteStatus;
using flashsale::LeaveStatus;
using flashsale::RenewStatus;
using flashsale::VerifyStatus;
using flashsale::VisitorState;
using flashsale::VisitorStatus;
using flashsale::WaitingRoom;
using flashsale::WaitingRoomOptions;
using flashsale::WaitingRoomRunner;
using flashsale::testing::eventually;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;
using flashsale::testing::server_time_ms;
using flashsale::testing::wait_until_loaded;
using flashsale::testing::stock::dump_database;
using flashsale::testing::stock::wait_for_server_time_past;

namespace {

const std::string kRoom = "launch";

long long ms_of(const std::optional<std::chrono::system_clock::time_point>& time) {
  REQUIRE(time.has_value());
  return flashsale::detail::to_epoch_ms(*time);
}

// A room that lets nobody in for an hour: visitors only queue.
WaitingRoomOptions queue_only(flashsale::Client& client) {
  WaitingRoomOptions options;
  options.admission_opens_at = server_now(client) + 1h;
  return options;
}

}  // namespace

TEST_CASE("tickets follow arrival and a retried join keeps the ticket and the position", "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoom room(*client, queue_only(*client));

  const VisitorStatus alice = room.join(kRoom, "alice");
  const VisitorStatus bob = room.join(kRoom, "bob");
  const VisitorStatus carol = room.join(kRoom, "carol");
  CHECK(alice.state == VisitorState::Waiting);
  CHECK(alice.ticket == 1);
  CHECK(alice.position == 0);
  CHECK(alice.new_ticket);
  CHECK(bob.ticket == 2);
  CHECK(bob.position == 1);
  CHECK(carol.ticket == 3);
  CHECK(carol.position == 2);
  CHECK(carol.token.empty());
  CHECK_FALSE(carol.admitted_at.has_value());

  for (int retry = 0; retry < 3; ++retry) {
    const VisitorStatus again = room.join(kRoom, "bob");
    CHECK(again.state == VisitorState::Waiting);
    CHECK(again.ticket == 2);
    CHECK(again.position == 1);
    CHECK_FALSE(again.new_ticket);
  }
  const VisitorStatus carol_now = room.status(kRoom, "carol");
  CHECK(carol_now.ticket == 3);
  CHECK(carol_now.position == 2);
  CHECK_FALSE(carol_now.new_ticket);

  const VisitorStatus stranger = room.status(kRoom, "dave");
  CHECK(stranger.state == VisitorState::NotInRoom);
  CHECK(stranger.ticket == 0);
  CHECK(room.join(kRoom, "dave").ticket == 4);

  const auto stats = room.stats(kRoom);
  CHECK(stats.waiting == 4);
  CHECK(stats.active == 0);
  CHECK(stats.tickets == 4);
  CHECK(stats.admitted_total == 0);
  // Another room counts on its own.
  CHECK(room.join("other", "alice").ticket == 1);
}

TEST_CASE("a room with no rate and no cap admits every visitor at once with a token that verifies",
          "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoom room(*client);
  const long long before_ms = server_time_ms(*client);
  const VisitorStatus alice = room.join(kRoom, "alice");
  CHECK(alice.state == VisitorState::Admitted);
  CHECK(alice.ticket == 1);
  CHECK(alice.new_ticket);
  CHECK(ms_of(alice.admitted_at) >= before_ms);
  CHECK(ms_of(alice.expires_at) == ms_of(alice.admitted_at) + 5 * 60 * 1000);
  CHECK(room.verify(kRoom, "alice", alice.token) == VerifyStatus::Valid);

  // A retried join of an admitted visitor changes nothing.
  const VisitorStatus again = room.join(kRoom, "alice");
  CHECK(again.state == VisitorState::Admitted);
  CHECK(again.ticket == 1);
  CHECK_FALSE(again.new_ticket);
  CHECK(again.token == alice.token);
  CHECK(room.status(kRoom, "alice").token == alice.token);
  CHECK(room.join(kRoom, "bob").state == VisitorState::Admitted);
  CHECK(room.stats(kRoom).active == 2);
}

TEST_CASE("the cap bounds the admitted visitors and complete or leave frees a slot for the next",
          "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.max_active = 2;
  WaitingRoom room(*client, options);
  for (const char* visitor : {"a", "b", "c", "d", "e"}) {
    room.join(kRoom, visitor);
  }
  CHECK(room.status(kRoom, "a").state == VisitorState::Admitted);
  CHECK(room.status(kRoom, "b").state == VisitorState::Admitted);
  CHECK(room.status(kRoom, "c").position == 0);
  CHECK(room.status(kRoom, "d").position == 1);
  CHECK(room.stats(kRoom).active == 2);

  CHECK(room.complete(kRoom, "c") == CompleteStatus::NotAdmitted);  // waiting: unchanged
  CHECK(room.status(kRoom, "c").position == 0);
  CHECK(room.complete(kRoom, "a") == CompleteStatus::Completed);
  CHECK(room.complete(kRoom, "a") == CompleteStatus::NotAdmitted);  // a retry
  CHECK(room.status(kRoom, "c").state == VisitorState::Admitted);
  CHECK(room.status(kRoom, "d").position == 0);
  CHECK(room.stats(kRoom).active == 2);

  CHECK(room.leave(kRoom, "b") == LeaveStatus::FreedSlot);
  CHECK(room.status(kRoom, "d").state == VisitorState::Admitted);
  CHECK(room.status(kRoom, "e").position == 0);
  CHECK(room.leave(kRoom, "e") == LeaveStatus::LeftQueue);
  CHECK(room.leave(kRoom, "e") == LeaveStatus::NotInRoom);
  CHECK(room.status(kRoom, "e").state == VisitorState::NotInRoom);

  const auto stats = room.stats(kRoom);
  CHECK(stats.waiting == 0);
  CHECK(stats.active == 2);
  CHECK(stats.admitted_total == 4);
  CHECK(stats.completed_total == 1);
  CHECK(stats.left_total == 2);
}

TEST_CASE("admission follows ticket order and never exceeds the rate by the server clock",
          "[room]") {
  constexpr int kVisitors = 60;
  constexpr double kRate = 20;
  RedisServer server;
  auto client = server.make_client(6);
  WaitingRoomOptions options;
  options.admission_rate_per_second = kRate;
  options.heartbeat_timeout = 0ms;
  WaitingRoom room(*client, options);
  std::vector<VisitorStatus> admitted(kVisitors);
  for (int visitor = 0; visitor < kVisitors; ++visitor) {
    room.join(kRoom, "v" + std::to_string(visitor));
  }
  std::vector<std::thread> pollers;
  for (int thread = 0; thread < 4; ++thread) {
    pollers.emplace_back([&, thread] {
      bool everyone = false;
      while (!everyone) {
        everyone = true;
        for (int visitor = thread; visitor < kVisitors; visitor += 4) {
          auto& status = admitted[static_cast<std::size_t>(visitor)];
          if (status.state != VisitorState::Admitted) {
            status = room.status(kRoom, "v" + std::to_string(visitor));
            everyone = everyone && status.state == VisitorState::Admitted;
          }
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  for (auto& poller : pollers) {
    poller.join();
  }

  // By ticket, admission times never go back.
  std::sort(admitted.begin(), admitted.end(),
            [](const VisitorStatus& a, const VisitorStatus& b) { return a.ticket < b.ticket; });
  for (std::size_t index = 1; index < admitted.size(); ++index) {
    CHECK(ms_of(admitted[index - 1].admitted_at) <= ms_of(admitted[index].admitted_at));
  }
  // Any interval [t_i, t_j] holds at most burst + rate x (t_j - t_i) admissions.
  const double burst = std::max(1.0, kRate);
  for (std::size_t first = 0; first < admitted.size(); ++first) {
    for (std::size_t last = first; last < admitted.size(); ++last) {
      const double span_s = static_cast<double>(ms_of(admitted[last].admitted_at) -
                                                ms_of(admitted[first].admitted_at)) /
                            1000.0;
      const double count = static_cast<double>(last - first + 1);
      INFO("admissions " << first << ".." << last << " within " << span_s << " s");
      CHECK(count <= burst + kRate * span_s + 1e-9);
    }
  }
  const auto stats = room.stats(kRoom);
  CHECK(stats.admitted_total == kVisitors);
  REQUIRE(stats.measured_rate_per_second.has_value());
  CHECK(*stats.measured_rate_per_second > 0);
}

TEST_CASE("a waiting visitor who misses the heartbeat loses the place and is skipped", "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.max_active = 1;
  options.heartbeat_timeout = 1s;
  WaitingRoom room(*client, options);
  CHECK(room.join(kRoom, "first").state == VisitorState::Admitted);
  room.join(kRoom, "silent");
  room.join(kRoom, "keen");
  room.join(kRoom, "late");
  CHECK(room.status(kRoom, "late").position == 2);
  const auto silent_lost_at = server_now(*client) + options.heartbeat_timeout;

  // keen and late keep their places by asking; silent does not.
  bool silent_still_counted = true;
  while (server_now(*client) <= silent_lost_at + 50ms || silent_still_counted) {
    REQUIRE(room.status(kRoom, "keen").state == VisitorState::Waiting);
    silent_still_counted = room.status(kRoom, "late").position == 2;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(room.status(kRoom, "late").position == 1);
  CHECK(room.status(kRoom, "silent").state == VisitorState::NotInRoom);
  CHECK(room.stats(kRoom).abandoned_total == 1);

  CHECK(room.complete(kRoom, "first") == CompleteStatus::Completed);
  CHECK(room.status(kRoom, "keen").state == VisitorState::Admitted);
  CHECK(room.status(kRoom, "late").position == 0);
  // Joining again is a new place at the back.
  const VisitorStatus again = room.join(kRoom, "silent");
  CHECK(again.new_ticket);
  CHECK(again.ticket == 5);
  CHECK(again.position == 1);
}

TEST_CASE("admission skips abandoned visitors it meets at the head of the line before any sweep",
          "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.heartbeat_timeout = 1s;
  options.steps_per_call = 1;  // one drop per sweep: the rest meet admission
  const auto start = server_now(*client);
  options.admission_opens_at = start + 1500ms;
  WaitingRoom room(*client, options);
  for (const char* gone : {"gone-1", "gone-2", "gone-3"}) {
    room.join(kRoom, gone);
  }
  wait_for_server_time_past(*client, start + 1100ms);
  const VisitorStatus here = room.join(kRoom, "here");  // its sweep drops gone-1
  CHECK(here.position == 2);
  wait_for_server_time_past(*client, options.admission_opens_at);
  REQUIRE(server_now(*client) < start + 2000ms);  // "here" has not missed its heartbeat
  const auto step = room.advance(kRoom);
  CHECK(step.abandoned == 2);  // gone-2 by the sweep, gone-3 by admission
  CHECK(step.admitted == 0);
  CHECK(step.more_due);
  CHECK(room.status(kRoom, "here").state == VisitorState::Admitted);
  for (const char* gone : {"gone-1", "gone-2", "gone-3"}) {
    CHECK(room.status(kRoom, gone).state == VisitorState::NotInRoom);
  }
  const auto stats = room.stats(kRoom);
  CHECK(stats.admitted_total == 1);
  CHECK(stats.abandoned_total == 3);
}

TEST_CASE("an admission expires after the token TTL unless renewed and frees the slot", "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.max_active = 1;
  options.token_ttl = 400ms;
  WaitingRoom room(*client, options);
  const VisitorStatus alice = room.join(kRoom, "alice");
  REQUIRE(alice.state == VisitorState::Admitted);
  CHECK(room.join(kRoom, "bob").state == VisitorState::Waiting);
  CHECK(room.verify(kRoom, "alice", alice.token) == VerifyStatus::Valid);

  // Renewed half way through the TTL, so the renewed token outlives the
  // first by about 200 ms: room for the checks between the two expiries
  // even on a slow (sanitized) build.
  wait_for_server_time_past(*client, *alice.expires_at - 200ms);
  const auto renewed = room.renew(kRoom, "alice");
  REQUIRE(renewed.status == RenewStatus::Renewed);
  CHECK(ms_of(renewed.expires_at) >= ms_of(alice.expires_at));
  CHECK(room.verify(kRoom, "alice", renewed.token) == VerifyStatus::Valid);
  CHECK(room.status(kRoom, "alice").token == renewed.token);

  wait_for_server_time_past(*client, *alice.expires_at);
  if (server_now(*client) < *renewed.expires_at) {
    CHECK(room.verify(kRoom, "alice", alice.token) == VerifyStatus::Expired);
    CHECK(room.verify(kRoom, "alice", renewed.token) == VerifyStatus::Valid);
  }
  wait_for_server_time_past(*client, *renewed.expires_at);
  CHECK(room.verify(kRoom, "alice", renewed.token) == VerifyStatus::Expired);
  CHECK(room.status(kRoom, "alice").state == VisitorState::NotInRoom);
  CHECK(room.renew(kRoom, "alice").status == RenewStatus::NotAdmitted);
  CHECK(room.complete(kRoom, "alice") == CompleteStatus::NotAdmitted);
  CHECK(room.status(kRoom, "bob").state == VisitorState::Admitted);
  const auto stats = room.stats(kRoom);
  CHECK(stats.expired_total == 1);
  CHECK(stats.active == 1);
}

TEST_CASE(
    "a forged, tampered, malformed, another visitor's, another room's or an earlier visit's "
    "token fails verify",
    "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoom room(*client);
  const std::string alice = room.join(kRoom, "alice").token;
  const std::string bob = room.join(kRoom, "bob").token;
  const std::string other_room = room.join("other", "alice").token;
  REQUIRE(room.verify(kRoom, "alice", alice) == VerifyStatus::Valid);

  CHECK(room.verify(kRoom, "bob", alice) == VerifyStatus::Invalid);
  CHECK(room.verify(kRoom, "alice", bob) == VerifyStatus::Invalid);
  CHECK(room.verify(kRoom, "alice", other_room) == VerifyStatus::Invalid);
  CHECK(room.verify("other", "alice", alice) == VerifyStatus::Invalid);
  std::string forged = alice;
  forged.back() = forged.back() == '0' ? '1' : '0';
  CHECK(room.verify(kRoom, "alice", forged) == VerifyStatus::Invalid);
  // A later expiry with the old MAC.
  const auto first_dot = alice.find('.');
  const auto second_dot = alice.find('.', first_dot + 1);
  std::string later = alice;
  later[second_dot - 1] = later[second_dot - 1] == '9' ? '8' : '9';
  CHECK(room.verify(kRoom, "alice", later) == VerifyStatus::Invalid);
  // Another ticket with the old MAC.
  CHECK(room.verify(kRoom, "alice", "2" + alice.substr(first_dot)) == VerifyStatus::Invalid);

  // Not of the token form: Invalid without asking Redis.
  for (const std::string& malformed :
       {std::string(), std::string("abc"), std::string("1.2.zz"), std::string(200, '1'),
        alice + " ", std::string("1.2.3\n")}) {
    const long long processed = server.commands_processed();
    CHECK(room.verify(kRoom, "alice", malformed) == VerifyStatus::Invalid);
    CHECK(server.commands_processed() == processed + 1);
  }
  CHECK(room.verify(kRoom, "alice", "1.2.abc") == VerifyStatus::Invalid);

  // Left: revoked. Back again: a new visit, and the old token is not its token.
  CHECK(room.complete(kRoom, "alice") == CompleteStatus::Completed);
  CHECK(room.verify(kRoom, "alice", alice) == VerifyStatus::Revoked);
  const VisitorStatus back = room.join(kRoom, "alice");
  CHECK(back.ticket == 3);
  CHECK(room.verify(kRoom, "alice", back.token) == VerifyStatus::Valid);
  CHECK(room.verify(kRoom, "alice", alice) == VerifyStatus::Invalid);
  // A room nobody joined has no secret: nothing verifies.
  CHECK(room.verify("empty", "alice", alice) == VerifyStatus::Invalid);
}

TEST_CASE("the estimated wait is the position over the configured rate until a rate is measured",
          "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.admission_rate_per_second = 10;
  options.admission_opens_at = server_now(*client) + 1h;
  WaitingRoom room(*client, options);
  for (int visitor = 0; visitor < 4; ++visitor) {
    room.join(kRoom, "v" + std::to_string(visitor));
  }
  const long long opens_ms = flashsale::detail::to_epoch_ms(options.admission_opens_at);
  const long long before_ms = server_time_ms(*client);
  const VisitorStatus fifth = room.join(kRoom, "v4");
  const long long after_ms = server_time_ms(*client);
  REQUIRE(fifth.estimated_wait.has_value());
  // 5 visitors at 10/s: 500 ms after admission opens.
  CHECK(fifth.estimated_wait->count() >= 500 + opens_ms - after_ms);
  CHECK(fifth.estimated_wait->count() <= 500 + opens_ms - before_ms);

  WaitingRoom unlimited(*client, queue_only(*client));
  CHECK_FALSE(unlimited.join("no-rate", "v0").estimated_wait.has_value());
}

TEST_CASE("after a restart with AOF everyone keeps the ticket, the position and the token",
          "[room]") {
  flashsale::testing::RedisServerOptions server_options;
  server_options.config_lines = {"appendonly yes", "appendfsync always"};
  RedisServer server(server_options);
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.max_active = 3;
  options.heartbeat_timeout = 10min;
  WaitingRoom room(*client, options);
  std::vector<VisitorStatus> before;
  for (int visitor = 0; visitor < 10; ++visitor) {
    before.push_back(room.join(kRoom, "v" + std::to_string(visitor)));
  }
  server.restart();
  wait_until_loaded(server.admin());
  for (int visitor = 0; visitor < 10; ++visitor) {
    const std::string id = "v" + std::to_string(visitor);
    const VisitorStatus after = room.status(kRoom, id);
    const auto& earlier = before[static_cast<std::size_t>(visitor)];
    INFO(id);
    CHECK(after.state == earlier.state);
    CHECK(after.ticket == earlier.ticket);
    CHECK(after.position == earlier.position);
    CHECK(after.token == earlier.token);
    if (earlier.state == VisitorState::Admitted) {
      CHECK(room.verify(kRoom, id, earlier.token) == VerifyStatus::Valid);
    }
  }
  CHECK(room.stats(kRoom).active == 3);
  CHECK(room.join(kRoom, "newcomer").ticket == 11);
}

TEST_CASE("each call does at most steps_per_call admissions and says when more are due", "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.steps_per_call = 5;
  options.admission_opens_at = server_now(*client) + 500ms;
  WaitingRoom room(*client, options);
  for (int visitor = 0; visitor < 12; ++visitor) {
    room.join(kRoom, "v" + std::to_string(visitor));
  }
  wait_for_server_time_past(*client, options.admission_opens_at);
  auto step = room.advance(kRoom);
  CHECK(step.admitted == 5);
  CHECK(step.more_due);
  step = room.advance(kRoom);
  CHECK(step.admitted == 5);
  CHECK(step.more_due);
  step = room.advance(kRoom);
  CHECK(step.admitted == 2);
  CHECK_FALSE(step.more_due);
  CHECK(room.advance(kRoom).admitted == 0);
  CHECK(room.stats(kRoom).active == 12);
}

TEST_CASE(
    "a runner admits, expires and drops abandoned visitors while nobody asks, and stops "
    "cleanly",
    "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.max_active = 1;
  options.token_ttl = 200ms;
  options.heartbeat_timeout = 10min;
  WaitingRoom room(*client, options);
  for (int visitor = 0; visitor < 5; ++visitor) {
    room.join(kRoom, "v" + std::to_string(visitor));
  }
  room.join("second", "v0");
  CHECK(room.stats(kRoom).admitted_total == 1);
  {
    WaitingRoomRunner runner(room, {kRoom, "second"}, {10ms});
    // Each admission expires after 200 ms and the next visitor gets the slot.
    CHECK(eventually([&] { return room.stats(kRoom).expired_total == 5; }));
    runner.stop();
    runner.stop();
    CHECK(runner.admitted() == 4);
    CHECK(runner.failures() == 0);
    CHECK(runner.passes() > 0);
  }
  const auto stats = room.stats(kRoom);
  CHECK(stats.admitted_total == 5);
  CHECK(stats.waiting == 0);
  CHECK(stats.active == 0);
}

TEST_CASE("a runner logs failed passes while the server is down and then advances again",
          "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.max_active = 1;
  options.token_ttl = 100ms;
  WaitingRoom room(*client, options);
  std::atomic<int> warnings{0};
  flashsale::set_log_sink([&](flashsale::LogLevel level, std::string_view) {
    warnings += level == flashsale::LogLevel::Warning ? 1 : 0;
  });
  struct RestoreLogSink {
    ~RestoreLogSink() { flashsale::set_log_sink({}); }
  } restore_log_sink;
  WaitingRoomRunner runner(room, {kRoom}, {10ms});
  server.kill();
  CHECK(eventually([&] { return runner.failures() > 0; }));
  server.restart();
  room.join(kRoom, "a");
  room.join(kRoom, "b");
  CHECK(eventually([&] { return room.stats(kRoom).admitted_total == 2; }));
  runner.stop();
  CHECK(warnings >= static_cast<int>(runner.failures()));
}

TEST_CASE("visitor ids may hold any bytes, spaces, braces and NUL included", "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoom room(*client);
  const std::string odd("a b{c}\n\0d", 9);
  const VisitorStatus status = room.join(kRoom, odd);
  REQUIRE(status.state == VisitorState::Admitted);
  CHECK(room.verify(kRoom, odd, status.token) == VerifyStatus::Valid);
  CHECK(room.verify(kRoom, std::string("a b{c}\n", 7), status.token) == VerifyStatus::Invalid);
  CHECK(room.leave(kRoom, odd) == LeaveStatus::FreedSlot);
}

TEST_CASE("bad input raises InvalidArgument, sends nothing and leaves Redis unchanged", "[room]") {
  RedisServer server;
  auto client = server.make_client(2);
  WaitingRoomOptions options;
  options.max_visitor_id_bytes = 16;
  WaitingRoom room(*client, options);
  const std::string token = room.join(kRoom, "alice").token;
  const std::string before = dump_database(server.admin());

  const auto refused = [&](const char* what, auto&& call) {
    INFO(what);
    const long long processed = server.commands_processed();
    CHECK_THROWS_AS(call(), flashsale::InvalidArgument);
    CHECK(server.commands_processed() == processed + 1);
  };
  const std::string too_long(17, 'v');
  refused("join with an empty visitor", [&] { room.join(kRoom, ""); });
  refused("join with a visitor too long", [&] { room.join(kRoom, too_long); });
  refused("join with an empty room", [&] { room.join("", "alice"); });
  refused("join with a room with a brace", [&] { room.join("la{unch", "alice"); });
  refused("status with a room with a space", [&] { room.status("a room", "alice"); });
  refused("status with an empty visitor", [&] { room.status(kRoom, ""); });
  refused("advance with a room too long", [&] { room.advance(std::string(129, 'r')); });
  refused("verify with an empty visitor", [&] { room.verify(kRoom, "", token); });
  refused("verify with a bad room", [&] { room.verify("x\ny", "alice", token); });
  refused("renew with a visitor too long", [&] { room.renew(kRoom, too_long); });
  refused("complete with an empty visitor", [&] { room.complete(kRoom, ""); });
  refused("leave with a bad room", [&] { room.leave("{launch}", "alice"); });
  refused("stats of a bad room", [&] { room.stats("a\tb"); });
  CHECK(dump_database(server.admin()) == before);

  const auto bad_options = [&](const char* what, auto&& change) {
    INFO(what);
    WaitingRoomOptions bad;
    change(bad);
    const long long processed = server.commands_processed();
    CHECK_THROWS_AS(WaitingRoom(*client, bad), flashsale::InvalidArgument);
    CHECK(server.commands_processed() == processed + 1);
  };
  bad_options("negative rate", [](WaitingRoomOptions& o) { o.admission_rate_per_second = -1; });
  bad_options("rate above the limit",
              [](WaitingRoomOptions& o) { o.admission_rate_per_second = 2e6; });
  bad_options("rate not a number", [](WaitingRoomOptions& o) {
    o.admission_rate_per_second = std::numeric_limits<double>::quiet_NaN();
  });
  bad_options("infinite rate", [](WaitingRoomOptions& o) {
    o.admission_rate_per_second = std::numeric_limits<double>::infinity();
  });
  bad_options("cap above 2^53",
              [](WaitingRoomOptions& o) { o.max_active = (std::size_t{1} << 53) + 1; });
  bad_options("token ttl zero", [](WaitingRoomOptions& o) { o.token_ttl = 0ms; });
  bad_options("negative token ttl", [](WaitingRoomOptions& o) { o.token_ttl = -1s; });
  bad_options("negative heartbeat timeout",
              [](WaitingRoomOptions& o) { o.heartbeat_timeout = -1ms; });
  bad_options("steps zero", [](WaitingRoomOptions& o) { o.steps_per_call = 0; });
  bad_options("steps above the limit", [](WaitingRoomOptions& o) {
    o.steps_per_call = flashsale::kMaxWaitingRoomStepsPerCallLimit + 1;
  });
  bad_options("visitor id limit zero", [](WaitingRoomOptions& o) { o.max_visitor_id_bytes = 0; });
  bad_options("visitor id limit too high", [](WaitingRoomOptions& o) {
    o.max_visitor_id_bytes = flashsale::kMaxMemberIdBytesLimit + 1;
  });
  bad_options("opening before the epoch", [](WaitingRoomOptions& o) {
    o.admission_opens_at = std::chrono::system_clock::time_point(-1s);
  });
  bad_options("bad key prefix", [](WaitingRoomOptions& o) { o.key_prefix = "bad prefix"; });

  const long long processed = server.commands_processed();
  CHECK_THROWS_AS(WaitingRoomRunner(room, {}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(WaitingRoomRunner(room, {"a b"}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(WaitingRoomRunner(room, {kRoom}, {0ms}), flashsale::InvalidArgument);
  CHECK(server.commands_processed() == processed + 1);
  CHECK(dump_database(server.admin()) == before);
}
