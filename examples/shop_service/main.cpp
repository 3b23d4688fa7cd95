// shop_service: the seeds' flash-sale shop over HTTP, on flashsale
// (--mode=library) or directly in PostgreSQL (--mode=postgres, the baseline of
// bench/shop_before_after.sh). See http_routes.hpp for the API and the README
// section "The shop service" for a walk-through.
#include <fmt/core.h>
#include <httplib.h>
#include <signal.h>
#include <flashsale/standalone_client.hpp>

#include <cstdio>
#include <memory>
#include <thread>

#include "http_routes.hpp"
#include "library_shop.hpp"
#include "local_servers.hpp"
#include "outbox_worker.hpp"
#include "pg_pool.hpp"
#include "postgres_shop.hpp"
#include "shop_options.hpp"
#include "shop_schema.hpp"

namespace {

int serve(const shop::ShopOptions& options) {
  shop::LocalServers servers(options);  // before signals are blocked: servers inherit the mask
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  shop::PgPool pool(servers.postgres_conninfo(), options.postgres_pool);
  {
    auto lease = pool.lease();
    shop::create_shop_schema(lease.get());
  }
  flashsale::StandaloneClient redis(servers.redis(), flashsale::PoolOptions{options.redis_pool});
  shop::OutboxWorker outbox(redis, servers.postgres_conninfo());
  std::unique_ptr<shop::ShopBackend> backend;
  if (options.mode == shop::ShopMode::Library) {
    backend = std::make_unique<shop::LibraryShop>(redis, pool, options.hold_ttl);
  } else {
    backend = std::make_unique<shop::PostgresShop>(pool, options.hold_ttl);
  }

  httplib::Server server;
  const std::size_t threads = options.http_threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_keep_alive_max_count(1'000'000);
  server.set_keep_alive_timeout(30);
  server.set_tcp_nodelay(true);  // else Nagle and delayed ACKs add ~40 ms per answer
  shop::add_shop_routes(server, *backend);
  const int port = options.port == 0
                       ? server.bind_to_any_port("127.0.0.1")
                       : (server.bind_to_port("127.0.0.1", options.port) ? options.port : -1);
  if (port <= 0) {
    fmt::print(stderr, "shop_service: cannot listen on 127.0.0.1:{}\n", options.port);
    return 1;
  }
  std::thread stopper([&server, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    server.stop();
  });
  fmt::print("shop_service ({} mode) listening on http://127.0.0.1:{}\n",
             options.mode == shop::ShopMode::Library ? "library" : "postgres", port);
  std::fflush(stdout);
  server.listen_after_bind();
  pthread_kill(stopper.native_handle(), SIGTERM);  // ends sigwait when listen stopped otherwise
  stopper.join();
  fmt::print("shop_service stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool failed = false;
  const auto options = shop::parse_shop_options(argc, argv, failed);
  if (!options) {
    return failed ? 2 : 0;
  }
  try {
    return serve(*options);
  } catch (const std::exception& error) {
    fmt::print(stderr, "shop_service: {}\n", error.what());
    return 1;
  }
}
