// Microbenchmarks of every component's hot calls, one connection, synchronous,
// against a private redis-server (or FLASHSALE_BENCH_REDIS=host:port):
//
//   coupon/issue             one issue() per iteration (a new user each time)
//   coupon/issue_many_32     issue_many() of 32 new users per iteration
//   stock/reserve/1|3        reserve() of a 1- or 3-SKU cart (a new hold each time)
//   stock/confirm            confirm() of a hold reserved outside the timing
//   ranking/record           record() of one event
//   ranking/record_many_32   record_many() of 32 events
//   ranking/top10            top(10) over 10,000 members
//   stream/consume_ack       poll_once() handling and acking up to 100 entries
//   outbox/relay             relay_once() moving 100 SQLite records to a stream
//
// items_per_second is the figure to read. `--smoke` runs each a few
// iterations (the CTest smoke test). Other flags go to Google Benchmark.
#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "allocation_counter.hpp"
#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/outbox_relay.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/sqlite_outbox_store.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"

namespace {

using namespace std::chrono_literals;

bench::BenchServer* server = nullptr;

// items_per_second, and allocations_per_item: the operator new calls of the
// timed loop (the library's and the loop's own; hiredis's malloc calls are
// not counted) per item processed. The benchmarks that pause the clock for
// setup inside the loop (stream, outbox) report items only.
void report_items(benchmark::State& state, std::int64_t items, std::uint64_t allocations_before) {
  state.SetItemsProcessed(items);
  if (items > 0) {
    state.counters["allocations_per_item"] =
        static_cast<double>(bench::thread_allocations() - allocations_before) /
        static_cast<double>(items);
  }
}

std::unique_ptr<flashsale::StandaloneClient> new_client() {
  return server->make_client(1);
}

void register_open_coupon(flashsale::FirstComeCouponIssuer& issuer, const std::string& id) {
  const auto now = std::chrono::system_clock::now();
  issuer.register_template({id, std::int64_t{1} << 50, now - 1h, now + 24h, 1});
}

void coupon_issue(benchmark::State& state) {
  auto client = new_client();
  flashsale::FirstComeCouponIssuer issuer(*client);
  register_open_coupon(issuer, "micro-issue");
  std::int64_t user = 0;
  const std::uint64_t allocations_before = bench::thread_allocations();
  for (auto _ : state) {
    benchmark::DoNotOptimize(issuer.issue("micro-issue", "user:" + std::to_string(++user)));
  }
  report_items(state, state.iterations(), allocations_before);
}

void coupon_issue_many(benchmark::State& state) {
  auto client = new_client();
  flashsale::FirstComeCouponIssuer issuer(*client);
  register_open_coupon(issuer, "micro-issue-many");
  std::int64_t user = 0;
  std::vector<std::string> users(static_cast<std::size_t>(state.range(0)));
  const std::uint64_t allocations_before = bench::thread_allocations();
  for (auto _ : state) {
    for (auto& id : users) {
      id = "user:" + std::to_string(++user);
    }
    benchmark::DoNotOptimize(issuer.issue_many("micro-issue-many", users));
  }
  report_items(state, state.iterations() * state.range(0), allocations_before);
}

std::vector<flashsale::StockItem> cart_of(std::int64_t skus) {
  std::vector<flashsale::StockItem> cart;
  for (std::int64_t sku = 0; sku < skus; ++sku) {
    cart.push_back({"sku-" + std::to_string(sku), 1});
  }
  return cart;
}

void stock_reserve(benchmark::State& state) {
  auto client = new_client();
  flashsale::StockReserver reserver(*client);
  const std::string scope = "micro-reserve-" + std::to_string(state.range(0));
  std::vector<flashsale::StockItem> stock = cart_of(3);
  for (auto& item : stock) {
    item.quantity = std::int64_t{1} << 40;
  }
  reserver.load(scope, stock, flashsale::LoadMode::Replace);
  const auto cart = cart_of(state.range(0));
  std::int64_t hold = 0;
  const std::uint64_t allocations_before = bench::thread_allocations();
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        reserver.reserve(scope, "hold-" + std::to_string(++hold), cart, 10min));
  }
  report_items(state, state.iterations(), allocations_before);
}

void stock_confirm(benchmark::State& state) {
  auto client = new_client();
  flashsale::StockReserver reserver(*client);
  const std::string scope = "micro-confirm";
  reserver.load(scope, {{"sku-0", std::int64_t{1} << 40}}, flashsale::LoadMode::Replace);
  std::int64_t hold = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string hold_id = "hold-" + std::to_string(++hold);
    reserver.reserve(scope, hold_id, {{"sku-0", 1}}, 10min);
    state.ResumeTiming();
    benchmark::DoNotOptimize(reserver.confirm(scope, hold_id));
  }
  state.SetItemsProcessed(state.iterations());
}

flashsale::SlidingWindowRankingOptions micro_ranking(const std::string& name) {
  flashsale::SlidingWindowRankingOptions options;
  options.name = name;
  options.window = 24h;
  options.bucket = 1h;
  options.metrics = {{"sales", 1.0}, {"views", 0.1}};
  return options;
}

void ranking_record(benchmark::State& state) {
  auto client = new_client();
  flashsale::SlidingWindowRanking ranking(*client, micro_ranking("micro-record"));
  std::int64_t event = 0;
  const std::uint64_t allocations_before = bench::thread_allocations();
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ranking.record("product-" + std::to_string(++event % 10000), "sales", 1.0));
  }
  report_items(state, state.iterations(), allocations_before);
}

void ranking_record_many(benchmark::State& state) {
  auto client = new_client();
  flashsale::SlidingWindowRanking ranking(*client, micro_ranking("micro-record-many"));
  std::vector<flashsale::RankingEvent> events(static_cast<std::size_t>(state.range(0)));
  std::int64_t event = 0;
  const std::uint64_t allocations_before = bench::thread_allocations();
  for (auto _ : state) {
    for (auto& entry : events) {
      entry = {"product-" + std::to_string(++event % 10000), "views", 1.0, std::nullopt};
    }
    benchmark::DoNotOptimize(ranking.record_many(events));
  }
  report_items(state, state.iterations() * state.range(0), allocations_before);
}

void ranking_top(benchmark::State& state) {
  auto client = new_client();
  flashsale::SlidingWindowRanking ranking(*client, micro_ranking("micro-top"));
  std::vector<flashsale::RankingEvent> events;
  for (int member = 0; member < 10000; ++member) {
    events.push_back({"product-" + std::to_string(member), "sales",
                      static_cast<double>(1 + member % 977), std::nullopt});
    if (events.size() == 1000) {
      ranking.record_many(events);
      events.clear();
    }
  }
  ranking.refresh();
  const std::uint64_t allocations_before = bench::thread_allocations();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ranking.top(static_cast<std::size_t>(state.range(0))));
  }
  report_items(state, state.iterations(), allocations_before);
}

void stream_consume_ack(benchmark::State& state) {
  auto client = new_client();
  const std::string stream = "fs:bench:{micro-stream}:events";
  flashsale::StreamConsumerOptions options;
  options.streams = {stream};
  options.group = "micro";
  options.consumer = "bench";
  options.batch_size = 100;
  options.block_timeout = 1ms;
  flashsale::StreamConsumer consumer(*client, options);
  std::int64_t handled = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<flashsale::Command> adds;
    for (int entry = 0; entry < 100; ++entry) {
      adds.push_back({{"XADD", stream, "*", "n", std::to_string(entry)}, stream, {}});
    }
    client->execute_pipeline(adds);
    state.ResumeTiming();
    handled += static_cast<std::int64_t>(consumer.poll_once(
        [](const flashsale::StreamMessage&) { return flashsale::HandlerOutcome::Ack; }));
  }
  state.SetItemsProcessed(handled);
}

void outbox_relay(benchmark::State& state) {
  auto client = new_client();
  const auto directory = std::filesystem::temp_directory_path() / "flashsale-outbox-bench";
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  const std::string path = (directory / "outbox.db").string();
  flashsale::SqliteOutboxStore store(path);
  flashsale::RedisStreamPublisher publisher(*client);
  flashsale::OutboxRelayOptions relay_options;
  relay_options.batch_size = 100;
  flashsale::OutboxRelay relay(store, publisher, relay_options);
  sqlite3* raw = nullptr;
  sqlite3_open(path.c_str(), &raw);
  const std::unique_ptr<sqlite3, int (*)(sqlite3*)> host(raw, sqlite3_close);
  std::int64_t published = 0;
  std::int64_t order = 0;
  for (auto _ : state) {
    state.PauseTiming();
    sqlite3_exec(host.get(), "BEGIN", nullptr, nullptr, nullptr);
    for (int record = 0; record < 100; ++record) {
      flashsale::SqliteOutboxStore::append(
          host.get(), {"order", "order-" + std::to_string(++order % 50), "confirmed", "{}"});
    }
    sqlite3_exec(host.get(), "COMMIT", nullptr, nullptr, nullptr);
    state.ResumeTiming();
    published += static_cast<std::int64_t>(relay.relay_once().published);
  }
  state.SetItemsProcessed(published);
  std::filesystem::remove_all(directory);
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = bench::BenchArgs(argc, argv).smoke();
  benchmark::Initialize(&argc, argv);
  bench::BenchServer bench_server;
  server = &bench_server;
  const auto configure = [smoke](benchmark::internal::Benchmark* benchmark) {
    benchmark->Unit(benchmark::kMicrosecond)->UseRealTime();
    if (smoke) {
      benchmark->Iterations(3);
    }
  };
  configure(benchmark::RegisterBenchmark("coupon/issue", coupon_issue));
  configure(benchmark::RegisterBenchmark("coupon/issue_many", coupon_issue_many)->Arg(32));
  configure(benchmark::RegisterBenchmark("stock/reserve", stock_reserve)->Arg(1)->Arg(3));
  configure(benchmark::RegisterBenchmark("stock/confirm", stock_confirm));
  configure(benchmark::RegisterBenchmark("ranking/record", ranking_record));
  configure(benchmark::RegisterBenchmark("ranking/record_many", ranking_record_many)->Arg(32));
  configure(benchmark::RegisterBenchmark("ranking/top", ranking_top)->Arg(10));
  configure(benchmark::RegisterBenchmark("stream/consume_ack", stream_consume_ack));
  configure(benchmark::RegisterBenchmark("outbox/relay", outbox_relay));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
