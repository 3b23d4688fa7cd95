// ShardedCouponIssuer refuses bad options and bad input before any I/O. The
// client points at a port where nothing listens: had anything been sent, the
// calls would raise ConnectionError instead of InvalidArgument. Also the
// sub-coupon layout, which needs no server: each shard's tag lands in its own
// slot range.
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/sharded_coupon_issuer.hpp"
#include "flashsale/standalone_client.hpp"
#include "offline_client.hpp"

using namespace std::chrono_literals;
using flashsale::CouponTemplate;
using flashsale::InvalidArgument;
using flashsale::ShardedCouponIssuer;
using flashsale::ShardedCouponIssuerOptions;
using flashsale::ShardedIssuedUser;

using flashsale::testing::unreachable_client;
using flashsale::testing::valid_coupon_template;

namespace {

ShardedCouponIssuerOptions offline_options(std::size_t shards = 3) {
  ShardedCouponIssuerOptions options;
  options.shards = shards;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  return options;
}

}  // namespace

TEST_CASE("sharded issuer options outside their ranges are refused before any I/O", "[sharded]") {
  auto client = unreachable_client();
  // eviction_check stays Warn: the constructor would read INFO after the
  // options passed, so InvalidArgument proves the check came first.
  const auto refused = [&](const ShardedCouponIssuerOptions& options) {
    CHECK_THROWS_AS(ShardedCouponIssuer(client, options), InvalidArgument);
  };
  ShardedCouponIssuerOptions options;
  options.shards = 0;
  refused(options);
  options.shards = flashsale::kMaxCouponShards + 1;
  refused(options);
  options = {};
  options.transfer_chunk = 0;
  refused(options);
  options.transfer_chunk = flashsale::kMaxQuantity + 1;
  refused(options);
  options = {};
  options.max_transfer_rounds = 0;
  refused(options);
  options.max_transfer_rounds = flashsale::kMaxCouponTransferRoundsLimit + 1;
  refused(options);
  options = {};
  options.max_user_id_bytes = 0;
  refused(options);
  options.max_user_id_bytes = flashsale::kMaxMemberIdBytesLimit + 1;
  refused(options);
  options = {};
  options.max_stream_length = flashsale::kMaxStreamLengthLimit + 1;
  refused(options);
  options = {};
  options.key_prefix = "bad prefix";
  refused(options);
  options.key_prefix = "";
  refused(options);
}

TEST_CASE("sharded issuer calls with bad input are refused before any I/O", "[sharded]") {
  auto client = unreachable_client();
  ShardedCouponIssuer issuer(client, offline_options());

  auto coupon = valid_coupon_template();
  coupon.total = 0;
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);
  coupon = valid_coupon_template();
  coupon.id = std::string(flashsale::kMaxShardedCouponIdBytes + 1, 'c');
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);
  coupon = valid_coupon_template();
  coupon.id = "has{brace}";
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);
  coupon = valid_coupon_template();
  coupon.per_user_limit = 0;
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);
  coupon = valid_coupon_template();
  coupon.closes_at = coupon.opens_at;
  CHECK_THROWS_AS(issuer.register_template(coupon), InvalidArgument);

  CHECK_THROWS_AS(issuer.issue("", "alice"), InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("bad id", "alice"), InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("summer", ""), InvalidArgument);
  CHECK_THROWS_AS(issuer.issue("summer", std::string(257, 'u')), InvalidArgument);
  CHECK_THROWS_AS(issuer.revoke("summer", "", "reason"), InvalidArgument);
  CHECK_THROWS_AS(issuer.revoke("summer", "alice", std::string(1025, 'r')), InvalidArgument);
  CHECK_THROWS_AS(issuer.revoke("summer", "alice", "reason", 0), InvalidArgument);
  CHECK_THROWS_AS(issuer.stats("bad id"), InvalidArgument);
  CHECK_THROWS_AS(issuer.recover_transfers("bad id"), InvalidArgument);

  CHECK_THROWS_AS(issuer.take_stock("summer", 0, 3, 10), InvalidArgument);
  CHECK_THROWS_AS(issuer.take_stock("summer", 3, 0, 10), InvalidArgument);
  CHECK_THROWS_AS(issuer.take_stock("summer", 1, 1, 10), InvalidArgument);
  CHECK_THROWS_AS(issuer.take_stock("summer", 0, 1, 0), InvalidArgument);
  CHECK_THROWS_AS(issuer.take_stock("summer", 0, 1, flashsale::kMaxQuantity + 1), InvalidArgument);
  flashsale::PendingTransfer transfer;
  transfer.id = "abc";
  transfer.from = 0;
  transfer.to = 5;
  transfer.units = 3;
  CHECK_THROWS_AS(issuer.complete_transfer("summer", transfer), InvalidArgument);
  transfer.to = 1;
  transfer.id = "";
  CHECK_THROWS_AS(issuer.complete_transfer("summer", transfer), InvalidArgument);
  transfer.id = "abc";
  transfer.units = -1;
  CHECK_THROWS_AS(issuer.complete_transfer("summer", transfer), InvalidArgument);

  const std::string alice_shard_user = "alice";
  const std::size_t home = issuer.home_shard(alice_shard_user);
  const std::size_t other = (home + 1) % 3;
  CHECK_THROWS_AS(issuer.restore(valid_coupon_template(), {{alice_shard_user, other, 1}}),
                  InvalidArgument);
  CHECK_THROWS_AS(issuer.restore(valid_coupon_template(), {{alice_shard_user, 7, 1}}),
                  InvalidArgument);
  CHECK_THROWS_AS(issuer.restore(valid_coupon_template(), {{alice_shard_user, home, 0}}),
                  InvalidArgument);
  CHECK_THROWS_AS(issuer.restore(valid_coupon_template(),
                                 {{alice_shard_user, home, 1}, {alice_shard_user, home, 2}}),
                  InvalidArgument);  // above per_user_limit 1
  coupon = valid_coupon_template();
  coupon.total = 1;
  CHECK_THROWS_AS(
      issuer.restore(coupon, {{"a", issuer.home_shard("a"), 1}, {"b", issuer.home_shard("b"), 2}}),
      InvalidArgument);
  CHECK_THROWS_AS(issuer.restore(valid_coupon_template(), {}, -1), InvalidArgument);
}

TEST_CASE("each shard's hash tag falls in its own slot range, found without I/O", "[sharded]") {
  auto client = unreachable_client();
  for (const std::size_t shards : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
                                   flashsale::kMaxCouponShards}) {
    ShardedCouponIssuer issuer(client, offline_options(shards));
    const auto ids = issuer.sub_coupon_ids("hot-deal");
    REQUIRE(ids.size() == shards);
    std::set<std::string> distinct(ids.begin(), ids.end());
    CHECK(distinct.size() == shards);
    for (std::size_t shard = 0; shard < shards; ++shard) {
      const std::size_t slot = flashsale::hash_slot(ids[shard]);
      CHECK(slot * shards / flashsale::kClusterSlotCount == shard);
      CHECK(issuer.shard_of_sub_coupon(ids[shard]) == std::optional<std::size_t>(shard));
    }
    CHECK(issuer.events_streams("hot-deal").at(0) == "fs:coupon:{" + ids[0] + "}:events");
  }
  ShardedCouponIssuer issuer(client, offline_options(3));
  CHECK_FALSE(issuer.shard_of_sub_coupon("hot-deal").has_value());
  CHECK_FALSE(issuer.shard_of_sub_coupon("hot-deal#0.2.0").has_value());
  CHECK_FALSE(issuer.shard_of_sub_coupon("#0.3.0").has_value());
}

TEST_CASE("users spread evenly over the shards by a hash of their id", "[sharded]") {
  auto client = unreachable_client();
  ShardedCouponIssuer issuer(client, offline_options(3));
  std::vector<int> per_shard(3, 0);
  for (int user = 0; user < 30'000; ++user) {
    const std::size_t shard = issuer.home_shard("user-" + std::to_string(user));
    REQUIRE(shard < 3);
    ++per_shard[shard];
    CHECK(issuer.home_shard("user-" + std::to_string(user)) == shard);
  }
  for (const int count : per_shard) {
    CHECK(count > 9'500);
    CHECK(count < 10'500);
  }
}
