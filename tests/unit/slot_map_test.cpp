#include "transport/slot_map.hpp"

#include "catch.hpp"
#include "flashsale/error.hpp"

using flashsale::Reply;
using flashsale::detail::parse_cluster_slots;
using flashsale::detail::parse_node_address;
using flashsale::detail::parse_redirect;
using flashsale::detail::Redirect;

namespace {

Reply slot_entry(long long first, long long last, std::string host, long long port) {
  return Reply::array({Reply::integer(first), Reply::integer(last),
                       Reply::array({Reply::string(std::move(host)), Reply::integer(port),
                                     Reply::string("0123456789abcdef")})});
}

}  // namespace

TEST_CASE("node addresses parse as host:port and [v6]:port", "[slot_map]") {
  const auto address = parse_node_address("10.0.0.7:7001");
  CHECK(address.host == "10.0.0.7");
  CHECK(address.port == 7001);
  CHECK(address.text() == "10.0.0.7:7001");
  const auto v6 = parse_node_address("[::1]:7002");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 7002);
  CHECK(v6.text() == "[::1]:7002");
  for (const char* bad : {"", "host", "host:", ":7000", "host:0", "host:65536", "host:7x"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_node_address(bad), flashsale::InvalidArgument);
  }
}

TEST_CASE("CLUSTER SLOTS ranges name their master, the replying host when it is unknown",
          "[slot_map]") {
  const Reply reply =
      Reply::array({slot_entry(0, 5460, "127.0.0.1", 7000), slot_entry(5461, 10922, "", 7001),
                    slot_entry(10923, 16383, "?", 7002)});
  const auto ranges = parse_cluster_slots(reply, "192.168.1.5");
  REQUIRE(ranges.size() == 3);
  CHECK(ranges[0].first == 0);
  CHECK(ranges[0].last == 5460);
  CHECK(ranges[0].master.host == "127.0.0.1");
  CHECK(ranges[1].master.host == "192.168.1.5");
  CHECK(ranges[1].master.port == 7001);
  CHECK(ranges[2].master.host == "192.168.1.5");
  CHECK(ranges[2].last == 16383);
}

TEST_CASE("malformed CLUSTER SLOTS replies raise ProtocolError", "[slot_map]") {
  CHECK_THROWS_AS(parse_cluster_slots(Reply::array({slot_entry(0, 16384, "h", 1)}), "h"),
                  flashsale::ProtocolError);
  CHECK_THROWS_AS(parse_cluster_slots(Reply::array({slot_entry(10, 5, "h", 1)}), "h"),
                  flashsale::ProtocolError);
  CHECK_THROWS_AS(parse_cluster_slots(Reply::array({slot_entry(0, 5, "h", 0)}), "h"),
                  flashsale::ProtocolError);
  CHECK_THROWS_AS(parse_cluster_slots(
                      Reply::array({Reply::array({Reply::integer(0), Reply::integer(1)})}), "h"),
                  flashsale::ProtocolError);
  CHECK_THROWS_AS(parse_cluster_slots(Reply::error("ERR cluster support disabled"), "h"),
                  flashsale::ReplyError);
}

TEST_CASE("MOVED and ASK replies are read as redirects, other replies are not", "[slot_map]") {
  const auto moved = parse_redirect(Reply::error("MOVED 3999 127.0.0.1:6381"), "h");
  REQUIRE(moved.has_value());
  CHECK(moved->kind == Redirect::Kind::Moved);
  CHECK(moved->slot == 3999);
  CHECK(moved->target.host == "127.0.0.1");
  CHECK(moved->target.port == 6381);

  const auto ask = parse_redirect(Reply::error("ASK 0 :6382"), "10.1.1.1");
  REQUIRE(ask.has_value());
  CHECK(ask->kind == Redirect::Kind::Ask);
  CHECK(ask->slot == 0);
  CHECK(ask->target.host == "10.1.1.1");

  CHECK_FALSE(parse_redirect(Reply::error("ERR wrong number of arguments"), "h").has_value());
  CHECK_FALSE(parse_redirect(Reply::string("MOVED 1 h:1"), "h").has_value());
  CHECK_THROWS_AS(parse_redirect(Reply::error("MOVED 16384 h:1"), "h"), flashsale::ProtocolError);
  CHECK_THROWS_AS(parse_redirect(Reply::error("MOVED 12"), "h"), flashsale::ProtocolError);
}

TEST_CASE("only refusals that may pass are transient cluster errors", "[slot_map]") {
  using flashsale::detail::is_transient_cluster_error;
  CHECK(
      is_transient_cluster_error(Reply::error("TRYAGAIN Multiple keys request during rehashing")));
  CHECK(is_transient_cluster_error(Reply::error("CLUSTERDOWN The cluster is down")));
  CHECK(is_transient_cluster_error(Reply::error("LOADING Redis is loading the dataset")));
  CHECK(is_transient_cluster_error(Reply::error("MASTERDOWN Link with MASTER is down")));
  CHECK_FALSE(is_transient_cluster_error(Reply::error("CROSSSLOT Keys don't hash")));
  CHECK_FALSE(is_transient_cluster_error(Reply::error("MOVED 1 h:1")));
  CHECK_FALSE(is_transient_cluster_error(Reply::string("TRYAGAIN")));
}
