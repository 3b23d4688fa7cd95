// Best-sellers of the last 24 hours: record a few events, refresh, read the
// top 3. Needs a Redis server; REDIS_HOST / REDIS_PORT (default 127.0.0.1:6379).
#include <cstdio>
#include <cstdlib>

#include "flashsale/error.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/standalone_client.hpp"

int main() {
  flashsale::ConnectionOptions connection;
  if (const char* host = std::getenv("REDIS_HOST")) {
    connection.host = host;
  }
  if (const char* port = std::getenv("REDIS_PORT")) {
    connection.port = std::atoi(port);
  }
  try {
    flashsale::StandaloneClient client(connection);

    flashsale::SlidingWindowRankingOptions options;
    options.name = "best-sellers";
    options.window = std::chrono::hours(24);
    options.bucket = std::chrono::hours(1);
    options.metrics = {{"sales", 1.0}, {"revenue", 0.001}, {"views", 0.1}};
    flashsale::SlidingWindowRanking ranking(client, options);

    // An order's sale, at the order's own time and with its id: sent again
    // after a timeout, it is still counted once.
    const auto ordered_at = std::chrono::system_clock::now();
    ranking.record("sku-42", "sales", 2, ordered_at, "order-1001:sales");
    ranking.record("sku-42", "revenue", 59.98, ordered_at, "order-1001:revenue");
    ranking.record("sku-7", "sales", 1);
    ranking.record_many(
        {{"sku-7", "views", 30, std::nullopt}, {"sku-9", "views", 12, std::nullopt}});
    ranking.refresh();  // call it periodically; readers see the last refresh

    for (const auto& entry : ranking.top(3)) {
      std::printf("%-8s %.3f\n", entry.member.c_str(), entry.score);
    }
  } catch (const flashsale::Error& error) {
    std::fprintf(stderr, "ranking example: %s\n", error.what());
    return 1;
  }
  return 0;
}
