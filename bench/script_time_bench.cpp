// How long each Lua script blocks Redis at the largest batch or cart the
// options allow, measured by the server itself.
//
//   script_time_bench [--smoke]
//
// bench::ScriptTimer (support/script_timer.hpp) reads the durations of every
// call of the case's script from the server's slowlog: µs of the server's
// execution time, without network or queueing. Every script is loaded before
// the runs, so the calls are EVALSHA.
//
// Cases (calls per case in brackets; --smoke runs 1..3 of each on smaller data):
//   issue_coupon              one issue() [1000]
//   issue_many_32             issue_many() pipelines of 32 users [100 x 32]
//   reserve_32_reclaim_16     reserve() of a 32-SKU cart (max_skus_per_cart
//                             default) while 16 expired 32-SKU holds are due,
//                             so the call also reclaims reclaim_per_reserve=16 [50]
//   reserve_256_reclaim_16    the same at the hard limit, max_skus_per_cart=256 [20]
//   reclaim_1000              reclaim_expired(limit 1000 = max_reclaim_per_call)
//                             over 1000 expired 32-SKU holds [3]
//   confirm_32 / confirm_256  confirm() of a 32- / 256-SKU hold [200 / 50]
//   load_10000                load() of a scope of kMaxStockSkusPerScope SKUs [1]
//   snapshot_10000            snapshot() of that scope [20]
//   ranking_record            record() with an event id, Incremental mode [1000]
//   ranking_subtract_64/1000  the Incremental subtraction of one bucket of
//                             100,000 members that left the window (the
//                             ranking's clock is moved by one bucket), with
//                             incremental_chunk 64 (default) and 1000
//   dead_letter_10 / _2000    the consumer's dead-letter script on entries of
//                             10 and 2000 fields (2000: the most it copies) [200 / 50]
//   publish_outbox            the outbox publish script, nothing to forget [1000]
//   publish_outbox_forget_100 the same when each call forgets 100 dedup
//                             entries past the retention (the most per call) [200]
//
// Expired holds are made by reserving with a 1 h TTL and then extend()ing
// each to 1 ms, so no setup reserve reclaims them early; the measured calls'
// reclaim counts are checked afterwards and printed in the note column.
// Prints a table (case, script, calls, max µs, median µs, note) and the
// longest call of all. Nothing is asserted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/script.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "script_timer.hpp"

namespace {

using namespace std::chrono_literals;
using flashsale::Command;
using flashsale::StandaloneClient;

struct Row {
  std::string name;
  std::string script;
  std::size_t calls = 0;
  long long max_us = 0;
  long long median_us = 0;
  std::string note;
};

std::vector<Row> rows;

// Runs `operation`, times its calls of `script_name` by the slowlog and
// prints the case's row.
void measure(bench::ScriptTimer& timer, const std::string& name, const char* script_name,
             const std::function<std::string()>& operation) {
  std::string note;
  auto durations = timer.time(flashsale::bundled_script(script_name), [&] { note = operation(); });
  const Row row{name,
                script_name,
                durations.size(),
                bench::percentile(durations, 1.0),
                bench::percentile(durations, 0.5),
                note};
  std::printf("%-26s %-24s %6zu %9lld %10lld  %s\n", row.name.c_str(), row.script.c_str(),
              row.calls, row.max_us, row.median_us, row.note.c_str());
  std::fflush(stdout);
  rows.push_back(row);
}

std::string numbered(const char* kind, long long number) {
  return std::string(kind) + ":" + std::to_string(number);
}

std::vector<flashsale::StockItem> cart(std::size_t skus) {
  std::vector<flashsale::StockItem> items;
  for (std::size_t sku = 0; sku < skus; ++sku) {
    items.push_back({numbered("sku", static_cast<long long>(sku)), 1});
  }
  return items;
}

struct Sizes {
  long long issues = 1000;
  long long issue_batches = 100;
  long long reserves_32 = 50;
  long long reserves_256 = 20;
  std::size_t reclaim_limit = 1000;
  long long reclaim_calls = 3;
  long long confirms_32 = 200;
  long long confirms_256 = 50;
  std::size_t scope_skus = flashsale::kMaxStockSkusPerScope;
  long long snapshots = 20;
  long long records = 1000;
  long long bucket_members = 100000;
  long long dead_letters_small = 200;
  long long dead_letters_large = 50;
  long long publishes = 1000;
  long long forgetting_publishes = 200;
};

Sizes smoke_sizes() {
  Sizes sizes;
  sizes.issues = 3;
  sizes.issue_batches = 1;
  sizes.reserves_32 = 2;
  sizes.reserves_256 = 1;
  sizes.reclaim_limit = 100;
  sizes.reclaim_calls = 1;
  sizes.confirms_32 = 2;
  sizes.confirms_256 = 1;
  sizes.scope_skus = 300;
  sizes.snapshots = 1;
  sizes.records = 3;
  sizes.bucket_members = 2000;
  sizes.dead_letters_small = 2;
  sizes.dead_letters_large = 1;
  sizes.publishes = 3;
  sizes.forgetting_publishes = 2;
  return sizes;
}

void load_every_script(StandaloneClient& client) {
  for (const auto& script : flashsale::bundled_scripts()) {
    client.execute({{"SCRIPT", "LOAD", std::string(script.source)}, {}, {}});
  }
}

void coupon_cases(bench::ScriptTimer& timer, StandaloneClient& client, const Sizes& sizes) {
  flashsale::FirstComeCouponIssuerOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::FirstComeCouponIssuer issuer(client, options);
  const auto now = std::chrono::system_clock::now();
  issuer.register_template({"script-time", std::int64_t{1} << 40, now - 1h, now + 24h, 1});
  long long user = 0;
  measure(timer, "issue_coupon", "issue_coupon", [&] {
    for (long long call = 0; call < sizes.issues; ++call) {
      issuer.issue("script-time", numbered("user", ++user));
    }
    return std::string();
  });
  measure(timer, "issue_many_32", "issue_coupon", [&] {
    std::vector<std::string> users(32);
    for (long long batch = 0; batch < sizes.issue_batches; ++batch) {
      for (auto& id : users) {
        id = numbered("user", ++user);
      }
      issuer.issue_many("script-time", users);
    }
    return std::string("pipelines of 32");
  });
}

// Reserves `count` holds of `skus` SKUs (1 h TTL), then extends each to 1 ms,
// so all are due together and none was reclaimed while they were made.
void make_expired_holds(flashsale::StockReserver& reserver, const std::string& scope,
                        const std::string& prefix, long long count, std::size_t skus) {
  const auto items = cart(skus);
  for (long long hold = 0; hold < count; ++hold) {
    reserver.reserve(scope, numbered(prefix.c_str(), hold), items, 1h);
  }
  for (long long hold = 0; hold < count; ++hold) {
    reserver.extend(scope, numbered(prefix.c_str(), hold), 1ms);
  }
  std::this_thread::sleep_for(20ms);
}

void reserve_case(bench::ScriptTimer& timer, StandaloneClient& client, std::size_t cart_skus,
                  long long reserves, long long confirms) {
  flashsale::StockReserverOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  options.max_skus_per_cart = cart_skus;
  flashsale::StockReserver reserver(client, options);
  const std::string scope = "reserve-" + std::to_string(cart_skus);
  auto stock = cart(cart_skus);
  for (auto& item : stock) {
    item.quantity = flashsale::kMaxQuantity;
  }
  reserver.load(scope, stock);
  const auto per_reserve = static_cast<long long>(options.reclaim_per_reserve);
  make_expired_holds(reserver, scope, "expired", per_reserve * reserves, cart_skus);
  const auto items = cart(cart_skus);
  measure(timer, "reserve_" + std::to_string(cart_skus) + "_reclaim_16", "reserve_stock", [&] {
    for (long long call = 0; call < reserves; ++call) {
      reserver.reserve(scope, numbered("measured", call), items, 1h);
    }
    const auto active = static_cast<long long>(reserver.snapshot(scope).active_holds);
    const long long reclaimed = per_reserve * reserves - (active - reserves);
    return std::to_string(reclaimed) + " of " + std::to_string(per_reserve * reserves) +
           " expired holds reclaimed by the measured reserves";
  });
  // confirm() of holds of the same size.
  for (long long hold = 0; hold < confirms; ++hold) {
    reserver.reserve(scope, numbered("to-confirm", hold), items, 1h);
  }
  measure(timer, "confirm_" + std::to_string(cart_skus), "settle_hold", [&] {
    long long confirmed = 0;
    for (long long hold = 0; hold < confirms; ++hold) {
      confirmed += reserver.confirm(scope, numbered("to-confirm", hold)).status ==
                           flashsale::ConfirmStatus::Confirmed
                       ? 1
                       : 0;
    }
    return std::to_string(confirmed) + " confirmed";
  });
}

void reclaim_case(bench::ScriptTimer& timer, StandaloneClient& client, const Sizes& sizes) {
  flashsale::StockReserverOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::StockReserver reserver(client, options);
  const std::string scope = "reclaim";
  auto stock = cart(options.max_skus_per_cart);
  for (auto& item : stock) {
    item.quantity = flashsale::kMaxQuantity;
  }
  reserver.load(scope, stock);
  make_expired_holds(reserver, scope, "expired",
                     static_cast<long long>(sizes.reclaim_limit) * sizes.reclaim_calls,
                     options.max_skus_per_cart);
  measure(timer, "reclaim_" + std::to_string(sizes.reclaim_limit), "reclaim_expired_holds", [&] {
    std::string reclaimed;
    for (long long call = 0; call < sizes.reclaim_calls; ++call) {
      reclaimed += (call == 0 ? "" : ",") +
                   std::to_string(reserver.reclaim_expired(scope, sizes.reclaim_limit).reclaimed);
    }
    return "reclaimed per call " + reclaimed + " (32-SKU holds)";
  });
}

void scope_cases(bench::ScriptTimer& timer, StandaloneClient& client, const Sizes& sizes) {
  flashsale::StockReserverOptions options;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::StockReserver reserver(client, options);
  auto stock = cart(sizes.scope_skus);
  for (auto& item : stock) {
    item.quantity = 1000;
  }
  measure(timer, "load_" + std::to_string(sizes.scope_skus), "load_stock", [&] {
    reserver.load("wide", stock);
    return std::to_string(sizes.scope_skus) + " SKUs";
  });
  reserver.reserve("wide", "one-hold", cart(32), 1h);
  measure(timer, "snapshot_" + std::to_string(sizes.scope_skus), "stock_snapshot", [&] {
    std::size_t skus = 0;
    for (long long call = 0; call < sizes.snapshots; ++call) {
      skus = reserver.snapshot("wide").skus.size();
    }
    return std::to_string(skus) + " SKUs per snapshot";
  });
}

void ranking_cases(bench::ScriptTimer& timer, StandaloneClient& client, const Sizes& sizes) {
  {
    flashsale::SlidingWindowRankingOptions options;
    options.name = "script-time-record";
    options.metrics = {{"sales", 1.0}, {"revenue", 0.001}};
    options.mode = flashsale::RankingMode::Incremental;
    options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
    flashsale::SlidingWindowRanking ranking(client, options);
    measure(timer, "ranking_record", "ranking_record", [&] {
      for (long long call = 0; call < sizes.records; ++call) {
        ranking.record(numbered("product", call % 5000), "sales", 1.0, std::nullopt,
                       numbered("event", call));
      }
      return std::string("with event ids, 5000 products");
    });
  }
  const long long hour = 3'600'000;
  const long long real_now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  for (const std::size_t chunk : {std::size_t{64}, std::size_t{1000}}) {
    auto now_ms = std::make_shared<std::atomic<long long>>(real_now - real_now % hour + hour / 2);
    flashsale::SlidingWindowRankingOptions options;
    options.name = "script-time-subtract-" + std::to_string(chunk);
    options.window = 2h;
    options.bucket = 1h;
    options.metrics = {{"sales", 1.0}};
    options.mode = flashsale::RankingMode::Incremental;
    options.incremental_chunk = chunk;
    options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
    options.clock = [now_ms] {
      return flashsale::RankingTime(std::chrono::milliseconds(now_ms->load()));
    };
    flashsale::SlidingWindowRanking ranking(client, options);
    // The older of the window's two buckets holds the members; rebuild() counts
    // it in the aggregate, as records would have.
    const long long older_bucket = now_ms->load() - now_ms->load() % hour - hour;
    const std::string key = ranking.bucket_key(
        "sales", flashsale::RankingTime(std::chrono::milliseconds(older_bucket)));
    std::vector<Command> batch;
    Command command{{"ZADD", key}, key, {}};
    for (long long member = 0; member < sizes.bucket_members; ++member) {
      command.arguments.push_back(std::to_string(1 + member % 50));
      command.arguments.push_back(numbered("product", member));
      if (command.arguments.size() >= 2 + 2 * 1000 || member + 1 == sizes.bucket_members) {
        batch.push_back(std::move(command));
        command = Command{{"ZADD", key}, key, {}};
      }
    }
    client.execute_pipeline(batch);
    ranking.rebuild();
    *now_ms += hour;  // the older bucket leaves the window
    measure(timer, "ranking_subtract_" + std::to_string(chunk), "ranking_subtract_expired", [&] {
      const auto result = ranking.refresh();
      return std::to_string(result.members_subtracted) + " members subtracted in " +
             std::to_string(result.calls) + " calls";
    });
  }
}

void dead_letter_case(bench::ScriptTimer& timer, StandaloneClient& client, long long entries,
                      int fields) {
  const std::string stream = "fs:bench:{dead-letter-" + std::to_string(fields) + "}";
  std::vector<Command> batch;
  for (long long entry = 0; entry < entries; ++entry) {
    Command command{{"XADD", stream, "*"}, stream, {}};
    for (int field = 0; field < fields; ++field) {
      command.arguments.push_back("field-" + std::to_string(field));
      command.arguments.push_back(std::string(32, 'v'));
    }
    batch.push_back(std::move(command));
  }
  client.execute_pipeline(batch);
  flashsale::StreamConsumerOptions options;
  options.streams = {stream};
  options.group = "bench";
  options.consumer = "bench-1";
  options.block_timeout = 10ms;
  flashsale::StreamConsumer consumer(client, options);
  measure(timer, "dead_letter_" + std::to_string(fields), "dead_letter_message", [&] {
    for (int poll = 0; poll < 1000 && consumer.stats().dead_lettered < entries; ++poll) {
      consumer.poll_once(
          [](const flashsale::StreamMessage&) { return flashsale::HandlerOutcome::DeadLetter; });
    }
    return std::to_string(consumer.stats().dead_lettered) + " entries of " +
           std::to_string(fields) + " fields dead-lettered";
  });
}

void outbox_cases(bench::ScriptTimer& timer, StandaloneClient& client, const Sizes& sizes) {
  flashsale::RedisStreamPublisherOptions keep;
  keep.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::RedisStreamPublisher publisher(client, keep);
  const std::string payload(200, 'p');
  std::int64_t id = 0;
  const auto record = [&] {
    return flashsale::OutboxRecord{++id,      "order", numbered("order", id),
                                   "created", payload, std::chrono::system_clock::now(),
                                   0};
  };
  measure(timer, "publish_outbox", "publish_outbox_record", [&] {
    for (long long call = 0; call < sizes.publishes; ++call) {
      publisher.publish_entry(record());
    }
    return std::string("7-day dedup retention: nothing to forget");
  });
  // 100 dedup entries per coming call, then a publisher whose retention has
  // passed for all of them.
  for (long long entry = 0; entry < 100 * sizes.forgetting_publishes; ++entry) {
    publisher.publish_entry(record());
  }
  std::this_thread::sleep_for(20ms);
  flashsale::RedisStreamPublisherOptions forget = keep;
  forget.dedup_retention = 10ms;
  flashsale::RedisStreamPublisher forgetting(client, forget);
  measure(timer, "publish_outbox_forget_100", "publish_outbox_record", [&] {
    for (long long call = 0; call < sizes.forgetting_publishes; ++call) {
      forgetting.publish_entry(record());
    }
    const std::string dedup = forgetting.stream_for("order") + ":published";
    const long long left = client.execute({{"HLEN", dedup}, dedup, {}}).as_integer();
    return std::to_string(left) + " dedup entries left";
  });
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = bench::BenchArgs(argc, argv).smoke();
  const Sizes sizes = smoke ? smoke_sizes() : Sizes{};
  try {
    bench::BenchServer server;
    server.flush();
    auto client = server.make_client(2);
    load_every_script(*client);
    bench::ScriptTimer timer(server);
    std::printf("%-26s %-24s %6s %9s %10s  %s\n", "case", "script", "calls", "max_us", "median_us",
                "note");
    coupon_cases(timer, *client, sizes);
    reserve_case(timer, *client, 32, sizes.reserves_32, sizes.confirms_32);
    reserve_case(timer, *client, flashsale::kMaxStockSkusPerCartLimit, sizes.reserves_256,
                 sizes.confirms_256);
    reclaim_case(timer, *client, sizes);
    scope_cases(timer, *client, sizes);
    ranking_cases(timer, *client, sizes);
    dead_letter_case(timer, *client, sizes.dead_letters_small, 10);
    dead_letter_case(timer, *client, sizes.dead_letters_large, 2000);
    outbox_cases(timer, *client, sizes);
    const auto longest = std::max_element(
        rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.max_us < b.max_us; });
    if (longest != rows.end()) {
      std::printf("longest script call %lld us (%s)\n", longest->max_us, longest->name.c_str());
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "script_time_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
