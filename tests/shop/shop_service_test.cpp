// Smoke test of examples/shop_service at small sizes: the program runs on a
// free port with a PostgreSQL and a redis-server this test started, takes real
// HTTP requests on every endpoint, and the results are read back from
// PostgreSQL and Redis directly. Both designs (library and postgres mode).
#include <httplib.h>
#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <flashsale/coupon_issuer.hpp>
#include <flashsale/stock_reserver.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "postgres_server.hpp"
#include "redis_server.hpp"

extern char** environ;

namespace {

using flashsale::testing::PostgresConnection;
using flashsale::testing::PostgresServer;
using flashsale::testing::RedisServer;

// The shop_service program on a free port; SIGTERM and reaped by the destructor.
class ShopService {
 public:
  ShopService(const std::string& mode, const PostgresServer& postgres, const RedisServer& redis)
      : port_(flashsale::testing::free_loopback_port()) {
    const std::string program = FLASHSALE_SHOP_SERVICE;
    if (::access(program.c_str(), X_OK) != 0) {
      FAIL("the shop service program is missing: " << program);
    }
    std::vector<std::string> words = {program,
                                      "--mode=" + mode,
                                      "--port=" + std::to_string(port_),
                                      "--postgres=" + postgres.conninfo(),
                                      "--redis=127.0.0.1:" + std::to_string(redis.port()),
                                      "--http-threads=16",
                                      "--redis-pool=8",
                                      "--postgres-pool=4"};
    std::vector<char*> argv;
    for (auto& word : words) {
      argv.push_back(word.data());
    }
    argv.push_back(nullptr);
    REQUIRE(::posix_spawn(&pid_, program.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
    httplib::Client client("127.0.0.1", port_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!client.Get("/health")) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("shop_service exited before it listened (status " << status << ")");
      }
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL("shop_service did not answer /health within 15 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~ShopService() { stop(); }
  ShopService(const ShopService&) = delete;
  ShopService& operator=(const ShopService&) = delete;

  int port() const noexcept { return port_; }
  // SIGTERM; the exit status (0 after a clean stop).
  int stop() {
    if (pid_ <= 0) {
      return -1;
    }
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

struct Answer {
  int status = 0;
  std::string body;
};

Answer post(httplib::Client& client, const std::string& path) {
  const auto result = client.Post(path.c_str());
  REQUIRE(result);
  return {result->status, result->body};
}

Answer get(httplib::Client& client, const std::string& path) {
  const auto result = client.Get(path.c_str());
  REQUIRE(result);
  return {result->status, result->body};
}

std::string order_id_of(const Answer& answer) {
  REQUIRE(answer.status == 202);
  const auto start = answer.body.find("\"order_id\":\"");
  REQUIRE(start != std::string::npos);
  const auto from = start + 12;
  return answer.body.substr(from, answer.body.find('"', from) - from);
}

// The shared walk through every endpoint, for either design.
void exercise_every_endpoint(const std::string& mode, bool ranking_in_redis) {
  PostgresServer postgres;
  RedisServer redis;
  ShopService service(mode, postgres, redis);
  httplib::Client http("127.0.0.1", service.port());

  CHECK(post(http, "/sales?name=s1&coupon_total=3&skus=2&stock=5").status == 201);
  CHECK(post(http, "/sales?name=s1&coupon_total=3&skus=2&stock=5").status == 409);
  CHECK(post(http, "/sales?name=bad%20name&coupon_total=3&skus=2&stock=5").status == 400);

  // Coupons: 3 units, one per user.
  std::vector<int> statuses;
  for (const char* user : {"u1", "u2", "u1", "u3", "u4", "u5"}) {
    statuses.push_back(post(http, std::string("/coupons/s1/issue?user=") + user).status);
  }
  CHECK(statuses == std::vector<int>{201, 201, 409, 201, 410, 410});
  CHECK(post(http, "/coupons/nope/issue?user=u1").status == 404);
  CHECK(post(http, "/coupons/s1/issue?user=").status == 400);

  // Orders: SKU 1 has 5 units.
  const std::string first = order_id_of(post(http, "/orders?sale=s1&user=u1&sku=1&quantity=2"));
  CHECK(post(http, "/orders?sale=s1&user=u2&sku=1&quantity=4").status == 409);
  CHECK(post(http, "/orders?sale=s1&user=u2&sku=9").status == 404);
  CHECK(post(http, "/orders?sale=s1&user=u2&sku=1&quantity=0").status == 400);
  const std::string second = order_id_of(post(http, "/orders?sale=s1&user=u2&sku=2"));
  order_id_of(post(http, "/orders?sale=s1&user=u3&sku=2"));  // stays held
  CHECK(post(http, "/orders/" + first + "/confirm").status == 200);
  CHECK(post(http, "/orders/" + first + "/confirm").status == 200);  // a retry
  CHECK(post(http, "/orders/" + second + "/confirm").status == 200);
  CHECK(post(http, "/orders/s1.u9.none/confirm").status == 404);

  // Ranking: SKU s1.1 sold 2, s1.2 sold 1 (Redis refreshes every 200 ms).
  Answer top;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    top = get(http, "/ranking/top?n=5");
  } while (top.body.find("\"sku\":\"s1.2\"") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline);
  CHECK(top.status == 200);
  CHECK(top.body.find(ranking_in_redis ? "\"source\":\"redis\"" : "\"source\":\"database\"") !=
        std::string::npos);
  CHECK(top.body.find("{\"sku\":\"s1.1\",\"sold\":2},{\"sku\":\"s1.2\",\"sold\":1}") !=
        std::string::npos);

  const Answer check = get(http, "/sales/s1/check");
  INFO(check.body);
  CHECK(check.status == 200);
  CHECK(post(http, "/sales/s1/end").status == 200);

  // PostgreSQL: coupon rows, orders, outbox records (published), write-back.
  PostgresConnection database(postgres);
  CHECK(database.execute("SELECT count(*) FROM user_coupons WHERE coupon_id = 's1'") == "3");
  CHECK(database.execute("SELECT string_agg(user_id, ',' ORDER BY user_id) FROM user_coupons") ==
        "u1,u2,u3");
  CHECK(database.execute("SELECT string_agg(sku || ':' || quantity, ',' ORDER BY sku) FROM "
                         "orders WHERE state = 'confirmed'") == "1:2,2:1");
  CHECK(database.execute("SELECT count(*) FROM flashsale_outbox WHERE aggregate_type = 'order' "
                         "AND state = 1") == "2");
  CHECK(database.execute("SELECT string_agg(sku || ':' || available || '/' || held || '/' || "
                         "confirmed, ',' ORDER BY sku) FROM stock WHERE sale = 's1'") ==
        "1:3/0/2,2:3/1/1");

  // Redis: the outbox stream holds both confirmations.
  CHECK(redis.admin()
            .execute({{"XLEN", "fs:outbox:{order}"}, "fs:outbox:{order}", {}})
            .as_integer() == 2);
  if (ranking_in_redis) {
    flashsale::FirstComeCouponIssuer coupons(redis.admin());
    const auto stats = coupons.stats("s1");
    REQUIRE(stats);
    CHECK(stats->issued == 3);
    CHECK(stats->remaining == 0);
    flashsale::StockReserver stock(redis.admin());
    const auto snapshot = stock.snapshot("s1");
    CHECK(snapshot.state == flashsale::SaleState::Closed);
    REQUIRE(snapshot.skus.size() == 2);
    CHECK(snapshot.skus[0].confirmed == 2);
    CHECK(snapshot.skus[1].confirmed == 1);

    // Redis gone: the ranking falls back to the database.
    redis.kill();
    const Answer fallback = get(http, "/ranking/top?n=5");
    CHECK(fallback.status == 200);
    CHECK(fallback.body.find("\"source\":\"database\"") != std::string::npos);
    CHECK(fallback.body.find("{\"sku\":\"s1.1\",\"sold\":2}") != std::string::npos);
  }
  CHECK(service.stop() == 0);
}

}  // namespace

TEST_CASE("shop service on flashsale answers every endpoint and persists to PostgreSQL") {
  exercise_every_endpoint("library", true);
}

TEST_CASE("shop service done directly in PostgreSQL answers every endpoint the same way") {
  exercise_every_endpoint("postgres", false);
}
