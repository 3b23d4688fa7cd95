// First-come issuance done three ways on one hot coupon, at 1, 8 and 32
// threads, against the same server in the same run:
//   lock    a distributed lock (SET NX PX) around GET / SISMEMBER / DECR / SADD
//           / XADD, released with GET + DEL: the design the library replaces
//   watch   WATCH / MULTI / EXEC optimistic retries on a pinned connection
//   script  the library's issue_coupon script (FirstComeCouponIssuer::issue)
//
//   coupon_designs_bench [--smoke] [--operations N]
//
// Each cell: throughput, p99 latency, and the anomalies found afterwards
// (oversold units, users issued twice). The stock is set below the attempts,
// so the race for the last units is part of the run. Prints
// `speedup script/lock at 32 threads <x>` last. Nothing is asserted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using flashsale::Command;

enum class Outcome { Issued, Refused };

// The keys of the hand-written designs, under their own hash tag.
struct PlainKeys {
  std::string lock, stock, users, events;
  explicit PlainKeys(const std::string& design)
      : lock("fs:bench:{" + design + "}:lock"),
        stock("fs:bench:{" + design + "}:stock"),
        users("fs:bench:{" + design + "}:users"),
        events("fs:bench:{" + design + "}:events") {}
};

Command keyed(const std::string& key, std::vector<std::string> arguments) {
  return Command{std::move(arguments), key, {}};
}

Outcome issue_with_lock(flashsale::StandaloneClient& client, const PlainKeys& keys,
                        const std::string& user, std::mt19937_64& random) {
  const std::string token = std::to_string(random());
  while (client.execute(keyed(keys.lock, {"SET", keys.lock, token, "NX", "PX", "200"})).is_nil()) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  Outcome outcome = Outcome::Refused;
  const long long stock = client.execute(keyed(keys.stock, {"GET", keys.stock})).as_integer();
  if (stock > 0 &&
      client.execute(keyed(keys.users, {"SISMEMBER", keys.users, user})).as_integer() == 0) {
    client.execute(keyed(keys.stock, {"DECR", keys.stock}));
    client.execute(keyed(keys.users, {"SADD", keys.users, user}));
    client.execute(keyed(keys.events, {"XADD", keys.events, "*", "user", user}));
    outcome = Outcome::Issued;
  }
  const auto holder = client.execute(keyed(keys.lock, {"GET", keys.lock})).as_optional_string();
  if (holder && *holder == token) {
    client.execute(keyed(keys.lock, {"DEL", keys.lock}));
  }
  return outcome;
}

Outcome issue_with_watch(flashsale::StandaloneClient& client, const PlainKeys& keys,
                         const std::string& user) {
  auto connection = client.pin();
  for (;;) {
    connection.execute(keyed(keys.stock, {"WATCH", keys.stock, keys.users}));
    const long long stock = connection.execute(keyed(keys.stock, {"GET", keys.stock})).as_integer();
    if (stock <= 0 ||
        connection.execute(keyed(keys.users, {"SISMEMBER", keys.users, user})).as_integer() != 0) {
      connection.execute(keyed(keys.stock, {"UNWATCH"}));
      return Outcome::Refused;
    }
    const auto replies = connection.execute_pipeline(
        {keyed(keys.stock, {"MULTI"}), keyed(keys.stock, {"DECR", keys.stock}),
         keyed(keys.users, {"SADD", keys.users, user}),
         keyed(keys.events, {"XADD", keys.events, "*", "user", user}),
         keyed(keys.stock, {"EXEC"})});
    if (!replies.back().is_nil()) {
      return Outcome::Issued;
    }
  }
}

struct Cell {
  double per_second = 0;
  double p99_ms = 0;
  long long issued = 0;
  long long oversold = 0;
  long long double_issued = 0;
};

// Runs `operations` attempts from `threads` threads with distinct users, some
// of them repeated, so duplicates and sell-out both happen.
Cell run(int threads, long long operations,
         const std::function<Outcome(const std::string& user, std::mt19937_64&)>& attempt) {
  std::atomic<long long> issued{0};
  std::vector<std::vector<double>> latencies(threads);
  const long long per_thread = operations / threads;
  const auto started = Clock::now();
  std::vector<std::thread> workers;
  for (int thread = 0; thread < threads; ++thread) {
    workers.emplace_back([&, thread] {
      std::mt19937_64 random(static_cast<std::uint64_t>(thread) + 1);
      auto& mine = latencies[thread];
      mine.reserve(per_thread);
      for (long long index = 0; index < per_thread; ++index) {
        // Every user tries twice: half the attempts must be refused as duplicates.
        const std::string user = "u" + std::to_string((thread * per_thread + index) / 2);
        const auto begin = Clock::now();
        if (attempt(user, random) == Outcome::Issued) {
          ++issued;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
      }
    });
  }
  for (auto& worker : workers) {
    worker.join();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::vector<double> all;
  for (const auto& mine : latencies) {
    all.insert(all.end(), mine.begin(), mine.end());
  }
  Cell cell;
  cell.per_second = static_cast<double>(per_thread * threads) / seconds;
  cell.p99_ms = bench::percentile(all, 0.99);
  cell.issued = issued;
  return cell;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const bool smoke = args.smoke();
  const long long operations = args.number("operations", smoke ? 640 : 32000, 64);
  // A third of the attempts find stock: the end of the sale is in the run.
  const long long stock = operations / 3;
  try {
    bench::BenchServer server;
    auto client = server.make_client(32);
    flashsale::FirstComeCouponIssuerOptions options;
    options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
    flashsale::FirstComeCouponIssuer issuer(*client, options);

    std::printf("%-7s %7s %12s %9s %8s %9s %14s\n", "design", "threads", "ops/s", "p99 ms",
                "issued", "oversold", "double-issued");
    double lock_at_32 = 0;
    double script_at_32 = 0;
    for (const int threads : {1, 8, 32}) {
      for (const char* design : {"lock", "watch", "script"}) {
        server.flush();
        const PlainKeys keys(design);
        Cell cell;
        if (std::strcmp(design, "script") == 0) {
          const auto now = std::chrono::system_clock::now();
          issuer.register_template(
              {"designs", stock, now - std::chrono::hours(1), now + std::chrono::hours(1), 1});
          cell = run(threads, operations, [&](const std::string& user, std::mt19937_64&) {
            const auto status = issuer.issue("designs", user).status;
            return status == flashsale::IssueStatus::Issued ? Outcome::Issued : Outcome::Refused;
          });
          const auto stats = issuer.stats("designs");
          const long long remaining = stats ? stats->remaining : 0;
          const long long holders = client
                                        ->execute(keyed("fs:coupon:{designs}:issued",
                                                        {"HLEN", "fs:coupon:{designs}:issued"}))
                                        .as_integer();
          cell.oversold = std::max(0LL, cell.issued - stock) + std::max(0LL, -remaining);
          cell.double_issued = cell.issued - holders;
        } else {
          client->execute(keyed(keys.stock, {"SET", keys.stock, std::to_string(stock)}));
          const bool with_lock = std::strcmp(design, "lock") == 0;
          cell = run(threads, operations, [&](const std::string& user, std::mt19937_64& random) {
            return with_lock ? issue_with_lock(*client, keys, user, random)
                             : issue_with_watch(*client, keys, user);
          });
          const long long remaining =
              client->execute(keyed(keys.stock, {"GET", keys.stock})).as_integer();
          const long long holders =
              client->execute(keyed(keys.users, {"SCARD", keys.users})).as_integer();
          const long long events =
              client->execute(keyed(keys.events, {"XLEN", keys.events})).as_integer();
          cell.oversold = std::max(0LL, cell.issued - stock) + std::max(0LL, -remaining);
          cell.double_issued = std::max(events, cell.issued) - holders;
        }
        std::printf("%-7s %7d %12.0f %9.3f %8lld %9lld %14lld\n", design, threads, cell.per_second,
                    cell.p99_ms, cell.issued, cell.oversold, cell.double_issued);
        std::fflush(stdout);
        if (threads == 32 && std::strcmp(design, "lock") == 0) {
          lock_at_32 = cell.per_second;
        }
        if (threads == 32 && std::strcmp(design, "script") == 0) {
          script_at_32 = cell.per_second;
        }
      }
    }
    std::printf("speedup script/lock at 32 threads %.2f\n", script_at_32 / lock_at_32);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "coupon_designs_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
