// FirstComeCouponIssuer incarnations and the restore path against a real
// redis-server: the epoch in every result and event, a restore from persisted
// units after Redis lost data, the Restoring state, idempotent and bounded
// batches, refusals, and bad input.
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "catch.hpp"
#include "coupon_test_support.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::CouponTemplate;
using flashsale::FirstComeCouponIssuer;
using flashsale::IssuedUser;
using flashsale::IssueStatus;
using flashsale::RegisterStatus;
using flashsale::RevokeStatus;
using flashsale::testing::read_stream;
using flashsale::testing::RedisServer;
using flashsale::testing::server_now;
using flashsale::testing::server_time_ms;
using flashsale::testing::StreamEntry;
using flashsale::testing::coupon::dataset_digest;
using flashsale::testing::coupon::open_coupon;
using flashsale::testing::coupon::read_events;

namespace {

void flush_all(RedisServer& server) {
  server.admin().execute({{"FLUSHALL"}, {}, {}});
}

}  // namespace

TEST_CASE("every coupon result and event carries the epoch made when the template was created",
          "[coupon][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  const std::int64_t before_us = server_time_ms(*client) * 1000;
  const auto created = issuer.register_template(open_coupon(*client, "summer", 5));
  REQUIRE(created.status == RegisterStatus::Created);
  const std::int64_t epoch = created.epoch;
  CHECK(epoch >= before_us);  // microseconds of the server clock
  CHECK(epoch < before_us + 60'000'000);

  const auto issued = issuer.issue("summer", "alice");
  CHECK(issued.status == IssueStatus::Issued);
  CHECK(issued.epoch == epoch);
  CHECK(issuer.issue("summer", "alice").epoch == epoch);  // AlreadyIssued
  const auto revoked = issuer.revoke("summer", "alice", "payment failed");
  CHECK(revoked.status == RevokeStatus::Revoked);
  CHECK(revoked.epoch == epoch);
  CHECK(issuer.stats("summer")->epoch == epoch);
  CHECK(issuer.issue("nothing-here", "alice").epoch == 0);

  // Updating or repeating the template keeps the incarnation.
  auto wider = open_coupon(*client, "summer", 8);
  CHECK(issuer.register_template(wider).epoch == epoch);
  const auto repeated = issuer.register_template(wider);
  CHECK(repeated.status == RegisterStatus::Unchanged);
  CHECK(repeated.epoch == epoch);

  const auto events = read_events(*client, "summer");
  REQUIRE(events.size() == 2);
  CHECK(events[0].fields.at("type") == "issued");
  CHECK(events[0].fields.at("epoch") == std::to_string(epoch));
  CHECK(events[1].fields.at("type") == "revoked");
  CHECK(events[1].fields.at("epoch") == std::to_string(epoch));

  // A template created again after Redis lost it gets a later epoch.
  flush_all(server);
  CHECK(issuer.register_template(wider).epoch > epoch);
}

TEST_CASE(
    "a restore after data loss rebuilds the coupon from persisted units under a new epoch and "
    "never gives a persisted user a second unit",
    "[coupon][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  const auto coupon = open_coupon(*client, "summer", 10);
  const std::int64_t first_epoch = issuer.register_template(coupon).epoch;
  for (const char* user : {"u1", "u2", "u3", "u4", "u5"}) {
    REQUIRE(issuer.issue("summer", user).status == IssueStatus::Issued);
  }
  // The host persisted u1, u2 and u4 (sequences 1, 2, 4); Redis then lost
  // everything.
  flush_all(server);
  const std::vector<IssuedUser> persisted = {{"u1", 1}, {"u2", 2}, {"u4", 4}};
  const auto restored = issuer.restore(coupon, persisted, first_epoch);
  CHECK(restored.epoch > first_epoch);
  CHECK(restored.issued == 3);
  CHECK(restored.remaining == 7);
  CHECK(restored.last_sequence == 4);

  for (const auto& unit : persisted) {
    const auto again = issuer.issue("summer", unit.user);
    CHECK(again.status == IssueStatus::AlreadyIssued);
    CHECK(again.sequence == unit.sequence);
    CHECK(again.epoch == restored.epoch);
  }
  // Sequences go on after the highest persisted one, under the new epoch.
  const auto next = issuer.issue("summer", "u6");
  CHECK(next.status == IssueStatus::Issued);
  CHECK(next.sequence == 5);
  CHECK(next.epoch == restored.epoch);
  CHECK(next.remaining == 6);

  const auto stats = issuer.stats("summer");
  REQUIRE(stats.has_value());
  CHECK(stats->total == 10);
  CHECK(stats->issued == 4);
  CHECK(stats->remaining == 6);
  CHECK(stats->revoked == 0);
  CHECK(stats->epoch == restored.epoch);
  CHECK(stats->last_sequence == 5);
  CHECK_FALSE(stats->restoring);

  const auto page = issuer.issued_users("summer", 0, 10);
  REQUIRE(page.users.size() == 4);
  CHECK(page.users[0].user == "u1");
  CHECK(page.users[2].user == "u4");
  CHECK(page.users[3].user == "u6");

  // The invariant holds through revoke and a new total after the restore.
  CHECK(issuer.revoke("summer", "u2", "refund").status == RevokeStatus::Revoked);
  CHECK(issuer.stats("summer")->issued == 3);
  auto smaller = coupon;
  smaller.total = 3;
  const auto updated = issuer.register_template(smaller);
  CHECK(updated.status == RegisterStatus::Updated);
  CHECK(updated.issued == 3);
  CHECK(updated.remaining == 0);
  CHECK(updated.epoch == restored.epoch);
  smaller.total = 2;
  CHECK(issuer.register_template(smaller).status == RegisterStatus::TotalBelowIssued);

  const auto events = read_events(*client, "summer");
  REQUIRE_FALSE(events.empty());
  const auto& marker = events[0].fields;  // the first event after the flush
  CHECK(marker.at("type") == "restored");
  CHECK(marker.at("epoch") == std::to_string(restored.epoch));
  CHECK(marker.at("issued") == "3");
  CHECK(marker.at("sequence") == "4");
}

TEST_CASE("a restore over a partly lost coupon replaces what Redis still held",
          "[coupon][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  const auto coupon = open_coupon(*client, "summer", 4, 2);
  const std::int64_t first_epoch = issuer.register_template(coupon).epoch;
  for (const char* user : {"a", "b", "a", "c"}) {
    REQUIRE(issuer.issue("summer", user).status == IssueStatus::Issued);
  }
  // The host persisted a's two units and c's; b's issue never reached it.
  const auto restored = issuer.restore(coupon, {{"a", 1}, {"a", 3}, {"c", 4}});
  CHECK(restored.epoch > first_epoch);
  CHECK(restored.issued == 3);
  CHECK(restored.remaining == 1);
  CHECK(issuer.issue("summer", "a").status == IssueStatus::AlreadyIssued);
  CHECK(issuer.sequence_of("summer", "a") == std::optional<std::int64_t>(3));
  CHECK_FALSE(issuer.sequence_of("summer", "b").has_value());
  const auto again = issuer.issue("summer", "b");
  CHECK(again.status == IssueStatus::Issued);
  CHECK(again.sequence == 5);
  CHECK(issuer.issue("summer", "d").status == IssueStatus::SoldOut);
  CHECK(issuer.stats("summer")->issued == 4);
}

TEST_CASE(
    "while a restore runs issue revoke and register answer Restoring and a newer begin "
    "supersedes an older epoch",
    "[coupon][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  const auto coupon = open_coupon(*client, "summer", 5);
  issuer.register_template(coupon);
  REQUIRE(issuer.issue("summer", "alice").status == IssueStatus::Issued);

  const std::int64_t first = issuer.begin_restore(coupon);
  const auto blocked = issuer.issue("summer", "bob");
  CHECK(blocked.status == IssueStatus::Restoring);
  CHECK(blocked.epoch == first);
  CHECK(issuer.revoke("summer", "alice", "x").status == RevokeStatus::Restoring);
  CHECK(issuer.register_template(coupon).status == RegisterStatus::Restoring);
  CHECK(issuer.stats("summer")->restoring);
  CHECK(read_events(*client, "summer").size() == 1);  // only alice's issue

  issuer.restore_issued("summer", first, {{"alice", 1}});
  // A second begin (say the first restorer crashed) starts over, higher.
  const std::int64_t second = issuer.begin_restore(coupon);
  CHECK(second > first);
  CHECK_THROWS_AS(issuer.restore_issued("summer", first, {{"bob", 2}}), flashsale::ReplyError);
  CHECK_THROWS_AS(issuer.finish_restore("summer", first), flashsale::ReplyError);
  CHECK(issuer.stats("summer")->issued == 0);

  issuer.restore_issued("summer", second, {{"alice", 1}});
  const auto finished = issuer.finish_restore("summer", second);
  CHECK(finished.epoch == second);
  CHECK(finished.issued == 1);
  CHECK(finished.remaining == 4);
  // A retried finish replies the same figures and appends nothing.
  const auto events_before = read_events(*client, "summer").size();
  const auto retried = issuer.finish_restore("summer", second);
  CHECK(retried.epoch == second);
  CHECK(retried.issued == 1);
  CHECK(retried.remaining == 4);
  CHECK(read_events(*client, "summer").size() == events_before);
  CHECK(issuer.issue("summer", "bob").status == IssueStatus::Issued);
  // A finished restore takes no more batches.
  CHECK_THROWS_AS(issuer.restore_issued("summer", second, {{"carol", 9}}), flashsale::ReplyError);
}

TEST_CASE("restore batches are bounded, idempotent under retry and checked on the server",
          "[coupon][restore]") {
  RedisServer server;
  auto client = server.make_client(2);
  FirstComeCouponIssuer issuer(*client);
  const auto coupon = open_coupon(*client, "big", 5000);
  std::vector<IssuedUser> units;
  for (std::int64_t i = 1; i <= 2500; ++i) {
    units.push_back({"user-" + std::to_string(i), 2 * i});  // gaps, as after revokes
  }
  const auto restored = issuer.restore(coupon, units);  // three batches
  CHECK(restored.issued == 2500);
  CHECK(restored.remaining == 2500);
  CHECK(restored.last_sequence == 5000);

  // Retrying a batch of the running restore changes nothing.
  const std::int64_t epoch = issuer.begin_restore(coupon, restored.epoch);
  CHECK(epoch > restored.epoch);
  const std::vector<IssuedUser> batch(units.begin(), units.begin() + 1000);
  issuer.restore_issued("big", epoch, batch);
  issuer.restore_issued("big", epoch, batch);
  const auto finished = issuer.finish_restore("big", epoch);
  CHECK(finished.issued == 1000);
  CHECK(finished.remaining == 4000);
  CHECK(finished.last_sequence == 2000);

  // What one batch cannot see the script refuses, writing nothing.
  auto limited = open_coupon(*client, "limited", 2);
  const std::int64_t limited_epoch = issuer.begin_restore(limited);
  issuer.restore_issued("limited", limited_epoch, {{"alice", 1}});
  const std::string before = dataset_digest(server);
  CHECK_THROWS_AS(issuer.restore_issued("limited", limited_epoch, {{"alice", 2}}),
                  flashsale::ReplyError);  // above per_user_limit 1
  CHECK_THROWS_AS(issuer.restore_issued("limited", limited_epoch, {{"bob", 2}, {"carol", 3}}),
                  flashsale::ReplyError);  // 3 units for a total of 2
  CHECK(dataset_digest(server) == before);
  CHECK(issuer.finish_restore("limited", limited_epoch).issued == 1);
}

TEST_CASE("bad restore input raises InvalidArgument, sends nothing and leaves Redis unchanged",
          "[coupon][restore]") {
  RedisServer server;
  auto client = server.make_client(1);
  FirstComeCouponIssuer issuer(*client);
  const auto coupon = open_coupon(*client, "valid", 3);
  issuer.register_template(coupon);
  const std::string digest = dataset_digest(server);
  const long long before = server.commands_processed();

  auto bad_template = coupon;
  bad_template.total = 0;
  CHECK_THROWS_AS(issuer.begin_restore(bad_template), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore(bad_template, {}), flashsale::InvalidArgument);
  auto bad_id = coupon;
  bad_id.id = "a}b";
  CHECK_THROWS_AS(issuer.begin_restore(bad_id), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore(bad_id, {}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.begin_restore(coupon, -1), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.begin_restore(coupon, flashsale::kMaxQuantity),
                  flashsale::InvalidArgument);

  const std::int64_t epoch = 1'700'000'000'000'000;
  CHECK_THROWS_AS(issuer.restore_issued("valid", 0, {{"alice", 1}}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore_issued("valid", epoch, {}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore_issued("valid", epoch, {{"alice", 0}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore_issued("valid", epoch, {{"", 1}}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore_issued("valid", epoch, {{std::string(257, 'u'), 1}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore_issued("valid", epoch, {{"alice", flashsale::kMaxQuantity + 1}}),
                  flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore_issued("a b", epoch, {{"alice", 1}}), flashsale::InvalidArgument);
  std::vector<IssuedUser> too_many;
  for (std::size_t i = 0; i <= flashsale::kMaxCouponRestoredUnitsPerBatch; ++i) {
    too_many.push_back({"user-" + std::to_string(i), static_cast<std::int64_t>(i + 1)});
  }
  CHECK_THROWS_AS(issuer.restore_issued("valid", epoch, too_many), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.finish_restore("valid", 0), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.finish_restore("", epoch), flashsale::InvalidArgument);

  // restore() checks the whole list before it sends anything.
  CHECK_THROWS_AS(issuer.restore(coupon, {{"alice", 1}, {"alice", 1}}),
                  flashsale::InvalidArgument);  // a unit twice
  CHECK_THROWS_AS(issuer.restore(coupon, {{"alice", 1}, {"alice", 2}}),
                  flashsale::InvalidArgument);  // above per_user_limit
  CHECK_THROWS_AS(issuer.restore(coupon, {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}}),
                  flashsale::InvalidArgument);  // more units than total
  CHECK_THROWS_AS(issuer.restore(coupon, {{"alice", 1}, {"bob", -2}}), flashsale::InvalidArgument);
  CHECK_THROWS_AS(issuer.restore(coupon, {}, -5), flashsale::InvalidArgument);

  CHECK(server.commands_processed() == before + 1);
  CHECK(dataset_digest(server) == digest);
}
