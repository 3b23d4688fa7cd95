// Auto-pipelining is a StandaloneClient option: a ClusterClient refuses it
// when constructed, before any connection is attempted (no server needed).
#include "catch.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/error.hpp"

using flashsale::ClusterClient;
using flashsale::ClusterClientOptions;

TEST_CASE("a ClusterClient with pool.shared_connections set throws InvalidArgument at construction",
          "[shared-connection]") {
  ClusterClientOptions options;
  // No server listens there: a refusal before any I/O is the only way out.
  options.seeds = {"127.0.0.1:1"};
  options.pool.shared_connections = 1;
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
  options.pool.shared_connections = 4;
  CHECK_THROWS_AS(ClusterClient(options), flashsale::InvalidArgument);
  options.pool.shared_connections = 0;
  CHECK_NOTHROW(ClusterClient(options));
}
