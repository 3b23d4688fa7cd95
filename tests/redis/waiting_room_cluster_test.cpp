// WaitingRoom on a real 3-master cluster: rooms on every master through one
// ClusterClient, each call routed to its room's slot, and a runner serving
// rooms on different masters.
#include <chrono>
#include <string>
#include <vector>

#include "catch.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/error.hpp"
#include "flashsale/waiting_room.hpp"
#include "flashsale/waiting_room_runner.hpp"
#include "redis_cluster.hpp"
#include "redis_test_helpers.hpp"

using namespace std::chrono_literals;
using flashsale::VisitorState;
using flashsale::testing::eventually;
using flashsale::testing::RedisCluster;

TEST_CASE(
    "WaitingRoom: its keys cannot span slots, and rooms on every master queue, admit and "
    "verify through one cluster client",
    "[cluster][room]") {
  RedisCluster cluster;
  auto client = cluster.make_client(2);
  flashsale::WaitingRoomOptions braced;
  braced.key_prefix = "shop{eu}";
  CHECK_THROWS_AS(flashsale::WaitingRoom(*client, braced), flashsale::InvalidArgument);

  flashsale::WaitingRoomOptions options;
  options.key_prefix = "shop:eu";
  options.max_active = 1;
  options.token_ttl = 1s;
  flashsale::WaitingRoom room(*client, options);
  std::vector<std::string> rooms;
  for (std::size_t node = 0; node < cluster.size(); ++node) {
    rooms.push_back(cluster.tag_on_node(node, "room"));
  }
  for (const auto& id : rooms) {
    const auto alice = room.join(id, "alice");
    REQUIRE(alice.state == VisitorState::Admitted);
    CHECK(room.verify(id, "alice", alice.token) == flashsale::VerifyStatus::Valid);
    CHECK(room.join(id, "bob").position == 0);
    CHECK(room.join(id, "carol").position == 1);
    CHECK(room.complete(id, "alice") == flashsale::CompleteStatus::Completed);
    CHECK(room.status(id, "bob").state == VisitorState::Admitted);
    CHECK(room.status(id, "carol").position == 0);
  }
  // A token of one room is nothing in another, wherever they live.
  const auto bob = room.status(rooms[0], "bob");
  REQUIRE(bob.state == VisitorState::Admitted);
  CHECK(room.verify(rooms[1], "bob", bob.token) == flashsale::VerifyStatus::Invalid);

  // bob's admission expires on every master; the runner lets carol in.
  flashsale::WaitingRoomRunner runner(room, rooms, {10ms});
  CHECK(eventually([&] {
    for (const auto& id : rooms) {
      if (room.stats(id).admitted_total != 3) {
        return false;
      }
    }
    return true;
  }));
  runner.stop();
  CHECK(runner.failures() == 0);
  for (const auto& id : rooms) {
    const auto stats = room.stats(id);
    CHECK(stats.waiting == 0);
    CHECK(stats.completed_total == 1);
    CHECK(stats.tickets == 3);
  }
}
