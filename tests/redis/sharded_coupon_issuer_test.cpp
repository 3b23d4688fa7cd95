// ShardedCouponIssuer against a real redis-server (all shards on one server):
// the split of the stock, routing by user, transfers between shards, the
// sold-out marker, revoke, stats, events, a transfer left half done and its
// recovery, re-registration and restore.
#include "flashsale/sharded_coupon_issuer.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "catch.hpp"
#include "coupon_test_support.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"
#include "redis_test_helpers.hpp"

using flashsale::IssueStatus;
using flashsale::RevokeStatus;
using flashsale::ShardedCouponIssuer;
using flashsale::ShardedCouponIssuerOptions;
using flashsale::ShardedRegisterStatus;
using flashsale::TransferStatus;
using flashsale::testing::read_stream;
using flashsale::testing::RedisServer;
using flashsale::testing::coupon::open_coupon;

namespace {

ShardedCouponIssuerOptions options_with(std::size_t shards, std::int64_t chunk) {
  ShardedCouponIssuerOptions options;
  options.shards = shards;
  options.transfer_chunk = chunk;
  return options;
}

// `count` user ids whose home is `shard`, distinct from any given before.
std::vector<std::string> users_on(const ShardedCouponIssuer& issuer, std::size_t shard,
                                  std::size_t count, const std::string& stem) {
  std::vector<std::string> users;
  for (int index = 0; users.size() < count; ++index) {
    std::string user = stem + "-" + std::to_string(index);
    if (issuer.home_shard(user) == shard) {
      users.push_back(std::move(user));
    }
  }
  return users;
}

// The conservation law: the registered total = issued + remaining + in flight.
void check_whole(ShardedCouponIssuer& issuer, const std::string& coupon, std::int64_t total) {
  const auto stats = issuer.stats(coupon);
  REQUIRE(stats.has_value());
  CHECK(stats->total == total);
  CHECK(stats->issued + stats->remaining + stats->in_flight == total);
  std::int64_t moved_out = 0;
  std::int64_t moved_in = 0;
  for (const auto& shard : stats->shards) {
    CHECK(shard.coupon.total == shard.coupon.issued + shard.coupon.remaining);
    moved_out += shard.moved_out;
    moved_in += shard.moved_in;
  }
  CHECK(moved_out == moved_in + stats->in_flight);
}

}  // namespace

TEST_CASE("a sharded coupon splits its stock and serves each user from the home shard",
          "[sharded]") {
  RedisServer server;
  auto client = server.make_client(2);
  ShardedCouponIssuer issuer(*client, options_with(3, 2));
  const auto registered = issuer.register_template(open_coupon(*client, "hot", 10));
  CHECK(registered.status == ShardedRegisterStatus::Created);
  REQUIRE(registered.shards.size() == 3);
  CHECK(registered.shards[0].remaining == 4);
  CHECK(registered.shards[1].remaining == 3);
  CHECK(registered.shards[2].remaining == 3);

  const auto users = users_on(issuer, 1, 3, "u");
  for (std::size_t index = 0; index < users.size(); ++index) {
    const auto result = issuer.issue("hot", users[index]);
    CHECK(result.status == IssueStatus::Issued);
    CHECK(result.shard == 1);
    CHECK(result.sequence == static_cast<std::int64_t>(index) + 1);
    CHECK(result.transfers == 0);
    CHECK(result.epoch > 0);
  }
  const auto again = issuer.issue("hot", users[0]);
  CHECK(again.status == IssueStatus::AlreadyIssued);
  CHECK(again.sequence == 1);
  CHECK(again.shard == 1);

  const auto stats = issuer.stats("hot");
  REQUIRE(stats.has_value());
  CHECK(stats->total == 10);
  CHECK(stats->issued == 3);
  CHECK(stats->remaining == 7);
  CHECK(stats->shards.at(1).coupon.remaining == 0);

  // Events go to the home shard's stream and name the shard's sub-coupon.
  const auto streams = issuer.events_streams("hot");
  const auto events = read_stream(*client, streams.at(1));
  REQUIRE(events.size() == 3);
  CHECK(issuer.shard_of_sub_coupon(events[0].fields.at("coupon")) == std::optional<std::size_t>(1));
  CHECK(events[2].fields.at("user") == users[2]);
  CHECK(read_stream(*client, streams.at(0)).empty());

  CHECK_FALSE(issuer.stats("nothing-here").has_value());
  CHECK(issuer.issue("nothing-here", "alice").status == IssueStatus::UnknownCoupon);
}

TEST_CASE("an empty home shard takes stock from the others until all of it is issued",
          "[sharded]") {
  RedisServer server;
  auto client = server.make_client(2);
  ShardedCouponIssuer issuer(*client, options_with(3, 2));
  issuer.register_template(open_coupon(*client, "hot", 10));

  // Every user is homed on shard 2: its 3 units, then 7 moved in chunks of 2.
  const auto users = users_on(issuer, 2, 14, "v");
  std::set<std::int64_t> sequences;
  std::size_t transfers = 0;
  for (std::size_t index = 0; index < 10; ++index) {
    const auto result = issuer.issue("hot", users[index]);
    REQUIRE(result.status == IssueStatus::Issued);
    CHECK(sequences.insert(result.sequence).second);
    transfers += result.transfers;
  }
  CHECK(transfers >= 4);
  check_whole(issuer, "hot", 10);
  const auto late = issuer.issue("hot", users[10]);
  CHECK(late.status == IssueStatus::SoldOut);
  auto stats = issuer.stats("hot");
  CHECK(stats->issued == 10);
  CHECK(stats->remaining == 0);
  CHECK(stats->shards.at(2).sold_out_marker);
  CHECK(stats->shards.at(2).coupon.total == 10);
  CHECK(stats->shards.at(2).moved_in == 7);
  // A user of another shard meets an empty shard too.
  const auto other = users_on(issuer, 0, 1, "w");
  CHECK(issuer.issue("hot", other[0]).status == IssueStatus::SoldOut);
  CHECK(issuer.stats("hot")->shards.at(0).sold_out_marker);

  // A revoke puts the unit back and clears every marker: a user of another
  // shard gets it through a transfer.
  const auto revoked = issuer.revoke("hot", users[4], "payment failed");
  CHECK(revoked.shard == 2);
  CHECK(revoked.result.status == RevokeStatus::Revoked);
  stats = issuer.stats("hot");
  for (const auto& shard : stats->shards) {
    CHECK_FALSE(shard.sold_out_marker);
  }
  const auto winner = issuer.issue("hot", other[0]);
  CHECK(winner.status == IssueStatus::Issued);
  CHECK(winner.shard == 0);
  CHECK(winner.transfers == 1);
  check_whole(issuer, "hot", 10);
  CHECK(issuer.stats("hot")->issued == 10);
  CHECK(issuer.revoke("hot", users[4], "again").result.status == RevokeStatus::NotHeld);
}

TEST_CASE("a transfer left half done is completed once by recover_transfers", "[sharded]") {
  RedisServer server;
  auto client = server.make_client(2);
  ShardedCouponIssuer issuer(*client, options_with(3, 100));
  issuer.register_template(open_coupon(*client, "hot", 30));

  // The donor script alone: what a process killed between the scripts leaves.
  const auto pending = issuer.take_stock("hot", 0, 1, 4);
  CHECK(pending.units == 4);
  auto stats = issuer.stats("hot");
  CHECK(stats->in_flight == 4);
  CHECK(stats->shards.at(0).transfers == 1);
  CHECK(stats->shards.at(0).coupon.total == 6);
  CHECK(stats->shards.at(1).coupon.total == 10);
  check_whole(issuer, "hot", 30);

  const auto recovery = issuer.recover_transfers("hot");
  CHECK(recovery.finished == 1);
  CHECK(recovery.units == 4);
  CHECK(recovery.unfinished == 0);
  stats = issuer.stats("hot");
  CHECK(stats->in_flight == 0);
  CHECK(stats->shards.at(1).coupon.total == 14);
  CHECK(stats->shards.at(1).coupon.remaining == 14);
  check_whole(issuer, "hot", 30);

  // Running recovery again, or completing the old transfer late, adds nothing.
  CHECK(issuer.recover_transfers("hot").finished == 0);
  const auto late = issuer.complete_transfer("hot", pending);
  CHECK(late.status == TransferStatus::Moved);
  CHECK(issuer.stats("hot")->shards.at(1).coupon.total == 14);
  check_whole(issuer, "hot", 30);

  // A whole transfer, and a donor with nothing left.
  const auto taken = issuer.take_stock("hot", 2, 0, 100);
  CHECK(taken.units == 10);
  CHECK(issuer.complete_transfer("hot", taken).status == TransferStatus::Moved);
  CHECK(issuer.take_stock("hot", 2, 0, 1).units == 0);
  stats = issuer.stats("hot");
  CHECK(stats->shards.at(0).coupon.total == 16);
  CHECK(stats->shards.at(2).coupon.total == 0);
  check_whole(issuer, "hot", 30);
}

TEST_CASE("re-registering a sharded coupon keeps its moved totals", "[sharded]") {
  RedisServer server;
  auto client = server.make_client(2);
  ShardedCouponIssuer issuer(*client, options_with(3, 100));
  auto coupon = open_coupon(*client, "hot", 30);
  issuer.register_template(coupon);
  issuer.complete_transfer("hot", issuer.take_stock("hot", 0, 2, 5));

  CHECK(issuer.register_template(coupon).status == ShardedRegisterStatus::Unchanged);
  CHECK(issuer.stats("hot")->shards.at(2).coupon.total == 15);
  coupon.per_user_limit = 2;
  CHECK(issuer.register_template(coupon).status == ShardedRegisterStatus::Updated);
  CHECK(issuer.stats("hot")->shards.at(2).coupon.total == 15);
  coupon.total = 31;
  CHECK(issuer.register_template(coupon).status == ShardedRegisterStatus::TotalChanged);
  check_whole(issuer, "hot", 30);

  // Another K names other sub-coupons: the coupon is unknown to it.
  ShardedCouponIssuer two(*client, options_with(2, 100));
  CHECK(two.issue("hot", "alice").status == IssueStatus::UnknownCoupon);
}

TEST_CASE("restore rebuilds every shard and drops the transfers in flight", "[sharded]") {
  RedisServer server;
  auto client = server.make_client(2);
  ShardedCouponIssuer issuer(*client, options_with(3, 3));
  const auto coupon = open_coupon(*client, "hot", 20);
  issuer.register_template(coupon);

  std::vector<flashsale::ShardedIssuedUser> persisted;
  std::int64_t highest_epoch = 0;
  for (int index = 0; index < 12; ++index) {
    const std::string user = "r-" + std::to_string(index);
    const auto result = issuer.issue("hot", user);
    REQUIRE(result.status == IssueStatus::Issued);
    persisted.push_back({user, result.shard, result.sequence});
    highest_epoch = std::max(highest_epoch, result.epoch);
  }
  const auto pending = issuer.take_stock("hot", 0, 1, 1);
  // Redis "lost" the last two issues: the host persisted ten.
  persisted.resize(10);
  const auto results = issuer.restore(coupon, persisted, highest_epoch);
  REQUIRE(results.size() == 3);
  std::int64_t held = 0;
  for (const auto& result : results) {
    CHECK(result.epoch > highest_epoch);
    held += result.issued;
  }
  CHECK(held == 10);
  auto stats = issuer.stats("hot");
  CHECK(stats->in_flight == 0);
  CHECK_FALSE(stats->restoring);
  check_whole(issuer, "hot", 20);
  CHECK(stats->issued == 10);

  // The transfer taken before the restore belongs to the lost incarnation.
  if (pending.units > 0) {
    CHECK(issuer.complete_transfer("hot", pending).status == TransferStatus::Stale);
  }
  check_whole(issuer, "hot", 20);
  // A restored user holds the unit; the sale goes on to exactly 20.
  CHECK(issuer.issue("hot", persisted[0].user).status == IssueStatus::AlreadyIssued);
  int issued = 0;
  for (int index = 100; index < 140; ++index) {
    issued += issuer.issue("hot", "r-" + std::to_string(index)).status == IssueStatus::Issued;
  }
  CHECK(issued == 10);
  check_whole(issuer, "hot", 20);
}

TEST_CASE("an issue that finds every shard empty first finishes transfers left in flight",
          "[sharded]") {
  RedisServer server;
  auto client = server.make_client(2);
  ShardedCouponIssuer issuer(*client, options_with(3, 100));
  issuer.register_template(open_coupon(*client, "hot", 3));  // one unit per shard
  CHECK(issuer.issue("hot", users_on(issuer, 1, 1, "a")[0]).status == IssueStatus::Issued);
  const auto on_two = users_on(issuer, 2, 2, "b");
  CHECK(issuer.issue("hot", on_two[0]).status == IssueStatus::Issued);
  // Shard 0's unit left towards shard 1 by a process that then died.
  CHECK(issuer.take_stock("hot", 0, 1, 100).units == 1);
  CHECK(issuer.stats("hot")->in_flight == 1);

  // Shard 2 is empty and so are the donors: the stranded unit is credited
  // to shard 1, then moved on to shard 2.
  const auto result = issuer.issue("hot", on_two[1]);
  CHECK(result.status == IssueStatus::Issued);
  CHECK(result.shard == 2);
  CHECK(result.transfers == 1);
  const auto stats = issuer.stats("hot");
  CHECK(stats->issued == 3);
  CHECK(stats->in_flight == 0);
  check_whole(issuer, "hot", 3);
  CHECK_FALSE(stats->shards.at(2).sold_out_marker);
  CHECK(issuer.issue("hot", users_on(issuer, 2, 3, "b")[2]).status == IssueStatus::SoldOut);
  CHECK(issuer.stats("hot")->shards.at(2).sold_out_marker);
}
