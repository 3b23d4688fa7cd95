// Redis memory per issued coupon, per active hold and per settled hold.
//
//   memory_bench [--smoke] [--count N]
//
// For each case the program fills one coupon / one stock scope with N items
// (default 100,000; --smoke: 1,000), then reads `MEMORY USAGE <key> SAMPLES 0`
// (every element counted) of every key of that coupon or scope and divides
// by N. The events stream's share of the total is printed, because it is the
// part the host controls (max_stream_length, consumer trimming). As a
// cross-check, the `INFO memory` used_memory delta over the fill, divided by
// N, is printed too: it also counts allocator and client-buffer noise, so it
// agrees only roughly.
//
// Cases:
//   coupon_issued   N users issued one unit each (issue_many batches of 32)
//   hold_active_1   N active holds of 1 SKU each (of 32 loaded SKUs)
//   hold_active_3   N active holds of 3 SKUs each
//   hold_settled_3  the same N 3-SKU holds after confirm(): what a sale keeps
//                   per hold id until the scope is deleted (`settled` entries)
// Hold and user ids are 16-byte strings ("user:0000000001" style).
// Nothing is asserted.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/stock_reserver.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::Command;
using flashsale::StandaloneClient;

std::string padded_id(const char* kind, long long number) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s:%010lld", kind, number);
  return buffer;
}

long long used_memory(StandaloneClient& client) {
  const std::string info = client.execute({{"INFO", "memory"}, {}, {}}).as_string();
  const std::string field = "used_memory:";
  const auto at = info.find(field);
  return at == std::string::npos ? 0 : std::atoll(info.c_str() + at + field.size());
}

long long memory_usage(StandaloneClient& client, const std::string& key) {
  const auto reply = client.execute({{"MEMORY", "USAGE", key, "SAMPLES", "0"}, key, {}});
  return reply.is_nil() ? 0 : reply.as_integer();
}

struct KeyFigure {
  std::string suffix;
  long long bytes = 0;
};

// Prints one case: bytes of every key, per item, the events share and the
// used_memory cross-check.
void report(const char* name, long long count, const std::vector<KeyFigure>& keys,
            long long used_delta) {
  long long total = 0;
  long long events = 0;
  for (const auto& key : keys) {
    total += key.bytes;
    if (key.suffix == "events") {
      events = key.bytes;
    }
  }
  std::printf("\n%s: %lld items\n", name, count);
  std::printf("  %-10s %14s %12s\n", "key", "bytes", "bytes/item");
  for (const auto& key : keys) {
    std::printf("  %-10s %14lld %12.1f\n", key.suffix.c_str(), key.bytes,
                static_cast<double>(key.bytes) / static_cast<double>(count));
  }
  std::printf("  %-10s %14lld %12.1f\n", "total", total,
              static_cast<double>(total) / static_cast<double>(count));
  std::printf("  events share %.1f%%\n",
              total == 0 ? 0.0 : 100.0 * static_cast<double>(events) / static_cast<double>(total));
  std::printf(
      "  used_memory delta %lld bytes = %.1f bytes/item (MEMORY USAGE total / delta %.2f)\n",
      used_delta, static_cast<double>(used_delta) / static_cast<double>(count),
      used_delta == 0 ? 0.0 : static_cast<double>(total) / static_cast<double>(used_delta));
  std::printf("summary %s bytes_per_item %.1f events_share %.3f used_memory_per_item %.1f\n", name,
              static_cast<double>(total) / static_cast<double>(count),
              total == 0 ? 0.0 : static_cast<double>(events) / static_cast<double>(total),
              static_cast<double>(used_delta) / static_cast<double>(count));
  std::fflush(stdout);
}

std::vector<KeyFigure> measure(StandaloneClient& client, const std::string& base,
                               const std::vector<const char*>& suffixes) {
  std::vector<KeyFigure> figures;
  for (const char* suffix : suffixes) {
    figures.push_back({suffix, memory_usage(client, base + ":" + suffix)});
  }
  return figures;
}

void coupon_case(bench::BenchServer& server, StandaloneClient& client, long long count) {
  server.flush();
  flashsale::FirstComeCouponIssuerOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::FirstComeCouponIssuer issuer(client, options);
  const auto now = std::chrono::system_clock::now();
  issuer.register_template({"memory", count, now - 1h, now + 24h, 1});
  issuer.issue("memory", "warm-up");  // loads the script; the stream exists
  issuer.revoke("memory", "warm-up", "warm-up", 1);
  const long long before = used_memory(client);
  std::vector<std::string> users;
  long long issued = 0;
  for (long long user = 0; user < count; ++user) {
    users.push_back(padded_id("user", user));
    if (users.size() == 32 || user + 1 == count) {
      for (const auto& result : issuer.issue_many("memory", users)) {
        issued += result.status == flashsale::IssueStatus::Issued ? 1 : 0;
      }
      users.clear();
    }
  }
  const long long after = used_memory(client);
  if (issued != count) {
    std::printf("coupon_issued: only %lld of %lld issued\n", issued, count);
  }
  report("coupon_issued", count,
         measure(client, "fs:coupon:{memory}",
                 {"meta", "stock", "issued", "queue", "seq", "revoked", "events"}),
         after - before);
}

const std::vector<const char*> kStockSuffixes = {"state",     "initial", "available", "held",
                                                 "confirmed", "holds",   "deadlines", "settled",
                                                 "events",    "payloads"};

// Reserves `count` holds of `skus_per_hold` SKUs from 4 threads, then reports;
// with `settle`, confirms them all and reports the settled state as well.
void hold_case(bench::BenchServer& server, StandaloneClient& client, long long count,
               int skus_per_hold, bool settle) {
  server.flush();
  flashsale::StockReserverOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::StockReserver reserver(client, options);
  std::vector<flashsale::StockItem> stock;
  for (int sku = 0; sku < 32; ++sku) {
    stock.push_back({padded_id("sku", sku), flashsale::kMaxQuantity});
  }
  reserver.load("memory", stock);
  reserver.reserve("memory", "warm-up", {{stock.front().sku, 1}}, 1h);  // loads the script
  reserver.release("memory", "warm-up");
  reserver.confirm("memory", "warm-up");  // and the settle script
  const auto items_of = [&](long long hold) {
    std::vector<flashsale::StockItem> items;
    for (int index = 0; index < skus_per_hold; ++index) {
      items.push_back({stock[static_cast<std::size_t>((hold + index) % 32)].sku, 1});
    }
    return items;
  };
  const auto in_threads = [&](auto&& work) {
    constexpr int kThreads = 4;
    std::vector<std::thread> threads;
    for (int thread = 0; thread < kThreads; ++thread) {
      threads.emplace_back([&, thread] {
        for (long long hold = thread; hold < count; hold += kThreads) {
          work(hold);
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
  };
  const long long before = used_memory(client);
  in_threads([&](long long hold) {
    reserver.reserve("memory", padded_id("hold", hold), items_of(hold), 1h);
  });
  const long long after_reserve = used_memory(client);
  const auto active = reserver.snapshot("memory").active_holds;
  if (static_cast<long long>(active) != count) {
    std::printf("hold case: %zu active holds, expected %lld\n", active, count);
  }
  const std::string name = "hold_active_" + std::to_string(skus_per_hold);
  report(name.c_str(), count, measure(client, "fs:stock:{memory}", kStockSuffixes),
         after_reserve - before);
  if (!settle) {
    return;
  }
  in_threads([&](long long hold) { reserver.confirm("memory", padded_id("hold", hold)); });
  const long long after_confirm = used_memory(client);
  const std::string settled_name = "hold_settled_" + std::to_string(skus_per_hold);
  report(settled_name.c_str(), count, measure(client, "fs:stock:{memory}", kStockSuffixes),
         after_confirm - before);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const bool smoke = args.smoke();
  const long long count = args.number("count", smoke ? 1000 : 100000);
  try {
    bench::BenchServer server;
    auto client = server.make_client(4);
    coupon_case(server, *client, count);
    hold_case(server, *client, count, 1, false);
    hold_case(server, *client, count, 3, true);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "memory_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
