// The parts of one ClusterClient call without a cluster: settling a reply,
// grouping a round's commands by node, and the retry budget's pacing.
#include "transport/cluster_rounds.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;
using flashsale::Reply;
using flashsale::detail::group_by_node;
using flashsale::detail::Redirect;
using flashsale::detail::RetryBudget;
using flashsale::detail::settle;
using flashsale::detail::Settlement;

TEST_CASE("a reply settles as final, a redirect with redirects left or a transient refusal",
          "[unit][cluster]") {
  CHECK(settle(Reply::string("ok"), "10.0.0.1", 0, 16).kind == Settlement::Kind::Final);
  CHECK(settle(Reply::error("ERR wrong number of arguments"), "10.0.0.1", 0, 16).kind ==
        Settlement::Kind::Final);

  const auto moved = settle(Reply::error("MOVED 3999 10.0.0.2:7002"), "10.0.0.1", 3, 16);
  REQUIRE(moved.kind == Settlement::Kind::Redirect);
  CHECK(moved.redirect->kind == Redirect::Kind::Moved);
  CHECK(moved.redirect->slot == 3999);
  CHECK(moved.redirect->target.text() == "10.0.0.2:7002");

  // A target without a host is on the host that answered.
  const auto ask = settle(Reply::error("ASK 12 :7003"), "10.0.0.1", 0, 16);
  REQUIRE(ask.kind == Settlement::Kind::Redirect);
  CHECK(ask.redirect->kind == Redirect::Kind::Ask);
  CHECK(ask.redirect->target.text() == "10.0.0.1:7003");

  // Out of redirects: the redirect is the caller's reply.
  const auto exhausted = settle(Reply::error("MOVED 3999 10.0.0.2:7002"), "10.0.0.1", 16, 16);
  CHECK(exhausted.kind == Settlement::Kind::Final);
  CHECK_FALSE(exhausted.redirect.has_value());

  for (const std::string refusal :
       {"TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down", "LOADING Redis is loading the dataset in memory",
        "MASTERDOWN Link with MASTER is down"}) {
    INFO(refusal);
    CHECK(settle(Reply::error(refusal), "10.0.0.1", 0, 16).kind == Settlement::Kind::Transient);
  }
}

namespace {

struct FakeNode {
  std::string name;
};

struct FakeEntry {
  int index = 0;
  std::shared_ptr<FakeNode> node;
};

}  // namespace

TEST_CASE(
    "a round groups commands by node in first-seen order and keeps their order within a "
    "node",
    "[unit][cluster]") {
  const auto a = std::make_shared<FakeNode>(FakeNode{"a"});
  const auto b = std::make_shared<FakeNode>(FakeNode{"b"});
  std::vector<FakeEntry> entries{{0, b}, {1, a}, {2, nullptr}, {3, b}, {4, a}, {5, nullptr}};
  std::vector<FakeEntry> unrouted;
  const auto groups = group_by_node<FakeNode>(
      std::move(entries), [](const FakeEntry& entry) { return entry.node; }, unrouted);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].first == b);
  CHECK(groups[1].first == a);
  REQUIRE(groups[0].second.size() == 2);
  CHECK(groups[0].second[0].index == 0);
  CHECK(groups[0].second[1].index == 3);
  REQUIRE(groups[1].second.size() == 2);
  CHECK(groups[1].second[0].index == 1);
  CHECK(groups[1].second[1].index == 4);
  REQUIRE(unrouted.size() == 2);
  CHECK(unrouted[0].index == 2);
  CHECK(unrouted[1].index == 5);
}

TEST_CASE("the retry budget pauses 10 ms doubling to 250 ms and never past its deadline",
          "[unit][cluster]") {
  const auto start = RetryBudget::Clock::time_point{} + 1h;
  RetryBudget budget(start, 1000ms);
  CHECK_FALSE(budget.exhausted(start));
  std::vector<long long> pauses;
  for (int round = 0; round < 7; ++round) {
    pauses.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(budget.next_pause(start)).count());
  }
  CHECK(pauses == std::vector<long long>{10, 20, 40, 80, 160, 250, 250});
  // Near the deadline a pause is cut to what is left; past it, none.
  CHECK(budget.next_pause(start + 900ms) == std::chrono::milliseconds(100));
  CHECK(budget.next_pause(start + 1500ms) == RetryBudget::Clock::duration::zero());
  CHECK(budget.exhausted(start + 1000ms));
  CHECK(budget.elapsed(start + 1500ms) == 1500ms);
  // A zero budget retries nothing after the first round.
  CHECK(RetryBudget(start, 0ms).exhausted(start));
}
