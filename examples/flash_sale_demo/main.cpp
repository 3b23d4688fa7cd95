// flash_sale_demo: a whole flash sale on one machine, proving its invariants.
//
//   waiting room  users queue in a WaitingRoom and are let in at users /
//                 --room-seconds per second; the shop verifies each token
//   coupon rush   users race for a coupon that opens a few seconds after start;
//                 issued events flow through a StreamConsumer into SQLite
//   hot deal      orders hold carts with short TTLs; most confirm (order row and
//                 outbox record in one SQLite transaction, relayed to a Redis
//                 stream by the OutboxRelay), some release, some abandon (a
//                 HoldReaper gives their stock back)
//   ranking       sales, revenue and catalog views in a SlidingWindowRanking
//   calendar      the coupon opening and the deal's end (end_sale and the
//                 stock write-back to SQLite) are SaleScheduler events
//
// Exit status 0 only when every invariant holds.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "demo_options.hpp"
#include "flashsale/component_metrics.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/outbox_relay.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/sqlite_outbox_store.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "flashsale/waiting_room.hpp"
#include "latency_recorder.hpp"
#include "metrics_endpoint.hpp"
#include "progress.hpp"
#include "redis_server.hpp"
#include "report.hpp"
#include "sale_calendar.hpp"
#include "sale_database.hpp"
#include "sale_phases.hpp"
#include "waiting_room_phase.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) {
  interrupted = true;
}

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// Renders a Progress a few times a second on its own thread while a phase runs.
class ProgressTicker {
 public:
  explicit ProgressTicker(demo::Progress& progress)
      : progress_(progress), thread_([this] {
          while (!done_) {
            progress_.render();
            std::this_thread::sleep_for(100ms);
          }
        }) {}
  ~ProgressTicker() {
    done_ = true;
    thread_.join();
    progress_.finish();
  }

 private:
  demo::Progress& progress_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Waits until `ready()` or the timeout or an interrupt; returns ready().
template <typename Ready>
bool wait_until(Ready ready, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!ready()) {
    if (Clock::now() >= deadline || interrupted) {
      return ready();
    }
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

bool sku_balanced(const flashsale::SkuFigures& sku) {
  return sku.initial == sku.available + sku.held + sku.confirmed;
}

// Counts the entries of a stream and the distinct values of one field in them.
std::pair<std::int64_t, std::int64_t> stream_entries_and_distinct(flashsale::Client& client,
                                                                  const std::string& stream,
                                                                  const std::string& field) {
  std::int64_t entries = 0;
  std::set<std::string> distinct;
  std::string start = "-";
  for (;;) {
    const auto page =
        client.execute({{"XRANGE", stream, start, "+", "COUNT", "1000"}, stream, {}}).as_array();
    for (const auto& entry : page) {
      const auto& parts = entry.as_array();
      ++entries;
      const auto& fields = parts.at(1).as_array();
      for (std::size_t index = 0; index + 1 < fields.size(); index += 2) {
        if (fields[index].as_string() == field) {
          distinct.insert(fields[index + 1].as_string());
        }
      }
      start = "(" + parts.at(0).as_string();
    }
    if (page.size() < 1000) {
      return {entries, static_cast<std::int64_t>(distinct.size())};
    }
  }
}

int run_sale(demo::DemoOptions options) {
  const auto run_tag = fmt::format("{:x}", std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  options.coupon_id = "launch-" + run_tag;
  options.deal_scope = "deal-" + run_tag;
  options.ranking_name = "best-sellers-" + run_tag;
  options.order_stream = "orders-" + run_tag;

  fmt::print(
      "flash_sale_demo: {} users for {} coupons, {} orders for {} SKUs x {} units, {} threads\n",
      options.users, options.coupons, options.orders, options.skus, options.units_per_sku,
      options.threads);

  // Redis: the one given, or a private server stopped at exit (also on Ctrl-C).
  std::unique_ptr<flashsale::testing::RedisServer> private_server;
  flashsale::ConnectionOptions connection;
  if (options.redis.empty()) {
    private_server = std::make_unique<flashsale::testing::RedisServer>();
    connection = private_server->connection_options();
    fmt::print("started a private redis-server on 127.0.0.1:{}\n", private_server->port());
  } else {
    const auto colon = options.redis.rfind(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument("--redis needs HOST:PORT");
    }
    connection.host = options.redis.substr(0, colon);
    connection.port = std::stoi(options.redis.substr(colon + 1));
  }
  connection.command_timeout = 5s;
  auto metrics = std::make_shared<flashsale::MetricsRegistry>();
  connection.metrics = metrics;
  flashsale::StandaloneClient client(
      connection, flashsale::PoolOptions{static_cast<std::size_t>(options.threads) + 4, 10s});

  // The host's database.
  std::filesystem::path scratch;
  std::string database_path = options.database;
  if (database_path.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "flash-sale-demo-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("cannot create a temporary directory");
    }
    scratch = pattern;
    database_path = (scratch / "sale.db").string();
  }
  struct ScratchRemover {
    std::filesystem::path path;
    ~ScratchRemover() {
      std::error_code ignored;
      if (!path.empty()) {
        std::filesystem::remove_all(path, ignored);
      }
    }
  } scratch_remover{scratch};
  demo::SaleDatabase database(database_path);
  fmt::print("results go to SQLite {}\n\n", database_path);

  // The library's components, all sharing one pooled client.
  flashsale::FirstComeCouponIssuer issuer(client);
  flashsale::StockReserver reserver(client);
  flashsale::SlidingWindowRankingOptions ranking_options;
  ranking_options.name = options.ranking_name;
  ranking_options.window = 1h;
  ranking_options.bucket = 1min;
  ranking_options.metrics = {{"sales", 1.0}, {"revenue", 0.001}, {"views", 0.1}};
  flashsale::SlidingWindowRanking ranking(client, ranking_options);

  // Issued coupon events -> SQLite, through a consumer group.
  const std::string coupon_events =
      flashsale::KeySpace().key("coupon", options.coupon_id, "events");
  flashsale::StreamConsumerOptions consumer_options;
  consumer_options.streams = {coupon_events};
  consumer_options.group = "sale-database";
  consumer_options.consumer = "writer-1";
  consumer_options.batch_size = 200;
  consumer_options.block_timeout = 200ms;
  flashsale::StreamConsumer consumer(client, consumer_options);
  std::thread consumer_thread([&] {
    consumer.run([&](const flashsale::StreamMessage& message) {
      std::string type, coupon, user;
      std::int64_t sequence = 0, issued_at_ms = 0;
      for (const auto& [name, value] : message.fields) {
        if (name == "type")
          type = value;
        else if (name == "coupon")
          coupon = value;
        else if (name == "user")
          user = value;
        else if (name == "sequence")
          sequence = std::stoll(value);
        else if (name == "issued_at_ms")
          issued_at_ms = std::stoll(value);
      }
      if (type == "issued") {
        database.record_coupon(coupon, user, sequence, issued_at_ms);
      }
      return flashsale::HandlerOutcome::Ack;
    });
  });
  struct Stopper {
    std::function<void()> stop;
    ~Stopper() { stop(); }
  };
  Stopper stop_consumer{[&] {
    consumer.stop();
    if (consumer_thread.joinable())
      consumer_thread.join();
  }};

  // Confirmed orders: SQLite outbox -> Redis stream.
  flashsale::SqliteOutboxStore outbox_store(database_path);
  flashsale::RedisStreamPublisherOptions publisher_options;
  publisher_options.fixed_stream = options.order_stream;
  flashsale::RedisStreamPublisher publisher(client, publisher_options);
  flashsale::OutboxRelayOptions relay_options;
  relay_options.poll_interval = 50ms;
  relay_options.backoff_base = 100ms;
  flashsale::OutboxRelay relay(outbox_store, publisher, relay_options);
  std::thread relay_thread([&] { relay.run(); });
  Stopper stop_relay{[&] {
    relay.stop();
    if (relay_thread.joinable())
      relay_thread.join();
  }};

  demo::MetricsEndpoint metrics_endpoint(metrics, options.metrics_port);
  metrics_endpoint.add_collector("coupon", flashsale::coupon_metrics(issuer, {options.coupon_id}));
  metrics_endpoint.add_collector("stock", flashsale::stock_metrics(reserver, {options.deal_scope}));
  metrics_endpoint.add_collector("coupon-events", flashsale::stream_consumer_metrics(consumer));
  metrics_endpoint.add_collector("orders", flashsale::outbox_metrics("orders", [&] {
                                   const auto counts = outbox_store.counts();
                                   return flashsale::OutboxFigures{
                                       counts.pending, counts.blocked,
                                       counts.oldest_pending_created_at};
                                 }));
  fmt::print("metrics at http://127.0.0.1:{}/metrics\n", metrics_endpoint.port());

  demo::Report report;
  demo::SaleCalendar calendar(client, reserver, database, "calendar-" + run_tag);

  // 0. The waiting room in front of the rush.
  flashsale::WaitingRoom room(client, demo::waiting_room_options(options));
  // Their collectors go before they do.
  const auto calendar_metrics = metrics->add_collector("calendar", calendar.metrics());
  const auto room_metrics = metrics->add_collector(
      "waiting-room", flashsale::waiting_room_metrics(room, {"queue-" + run_tag}));
  Stopper stop_component_metrics{[&] {
    metrics->remove_collector(room_metrics);
    metrics->remove_collector(calendar_metrics);
  }};
  demo::WaitingRoomOutcome queue;
  {
    demo::Progress progress("waiting room (users)", static_cast<std::uint64_t>(options.users));
    ProgressTicker ticker(progress);
    queue = demo::run_waiting_room(room, "queue-" + run_tag, options, progress, interrupted);
  }
  fmt::print("  {} joins, {} status polls: {} admitted at {:.0f}/s (measured {:.0f}/s)\n",
             queue.joins, queue.status_calls, queue.admitted, queue.rate_per_second,
             queue.measured_rate_per_second.value_or(0.0));

  // 1. The coupon rush, announced by a scheduled event.
  const auto now = std::chrono::system_clock::now();
  issuer.register_template(
      {options.coupon_id, options.coupons, now + options.coupon_opens_after, now + 1h, 1});
  calendar.schedule_coupon_opening(options.coupon_id, now + options.coupon_opens_after);
  fmt::print("coupon {} opens in {:.1f} s (a scheduled event tells the users)\n", options.coupon_id,
             std::chrono::duration<double>(options.coupon_opens_after).count());
  calendar.wait_for_coupon_opening(options.coupon_opens_after + 30s, interrupted);
  demo::LatencyRecorder issue_latency("coupon.issue");
  demo::CouponRushOutcome rush;
  {
    demo::Progress progress("coupon rush (users)", static_cast<std::uint64_t>(options.users));
    ProgressTicker ticker(progress);
    rush = demo::run_coupon_rush(issuer, options, issue_latency, progress, interrupted);
  }
  fmt::print("  {} attempts: {} issued, {} already issued, {} not open yet, {} sold out\n",
             rush.attempts, rush.issued, rush.already_issued, rush.not_open, rush.sold_out);

  // 2. The hot deal, with a reaper and an invariant sampler running alongside.
  reserver.load(options.deal_scope, demo::deal_stock(options));
  demo::SaleRecorders recorders;
  demo::StockSaleOutcome sale;
  std::atomic<bool> sale_running{true};
  std::atomic<std::int64_t> snapshots{0};
  std::atomic<std::int64_t> unbalanced_snapshots{0};
  std::optional<flashsale::StockSnapshot> ended;
  {
    flashsale::HoldReaper reaper(reserver, {options.deal_scope},
                                 flashsale::HoldReaperOptions{100ms, 100});
    std::thread sampler([&] {
      while (sale_running) {
        try {
          const auto snapshot = reserver.snapshot(options.deal_scope);
          ++snapshots;
          for (const auto& sku : snapshot.skus) {
            if (!sku_balanced(sku)) {
              ++unbalanced_snapshots;
            }
          }
        } catch (const flashsale::ConnectionError&) {
        }
        std::this_thread::sleep_for(20ms);
      }
    });
    // Joined on every path: an error of the sale below reaches the caller
    // instead of a joinable thread ending the process.
    Stopper stop_sampler{[&] {
      sale_running = false;
      if (sampler.joinable())
        sampler.join();
    }};
    {
      demo::Progress progress("hot deal (orders)", static_cast<std::uint64_t>(options.orders));
      ProgressTicker ticker(progress);
      sale = demo::run_stock_sale(reserver, database, ranking, options, recorders, progress,
                                  interrupted);
    }
    fmt::print("  {} reserved ({} confirmed, {} released, {} abandoned), {} out of stock\n",
               sale.reserved, sale.confirmed_orders, sale.released, sale.abandoned,
               sale.insufficient);
    // The deal ends by a scheduled event once the last hold's TTL is over:
    // its handler closes the scope and writes the final figures back.
    fmt::print("  the deal ends in {} ms (a scheduled event), after the last hold's TTL\n",
               (options.hold_ttl + 200ms).count());
    calendar.schedule_deal_end(options.deal_scope,
                               std::chrono::system_clock::now() + options.hold_ttl + 200ms);
    ended = calendar.wait_for_deal_end(options.hold_ttl + 30s, interrupted);
    stop_sampler.stop();
  }
  const auto final_stock = ended ? *ended : reserver.end_sale(options.deal_scope);

  // 3. Let the asynchronous paths to the database catch up.
  const auto coupon_stats = issuer.stats(options.coupon_id).value_or(flashsale::CouponStats{});
  const std::string rows_sql =
      fmt::format("SELECT COUNT(*) FROM user_coupons WHERE coupon_id = '{}'", options.coupon_id);
  wait_until([&] { return database.count(rows_sql) >= coupon_stats.issued; }, 30s);
  wait_until([&] { return outbox_store.counts().pending == 0; }, 30s);
  stop_consumer.stop();
  stop_relay.stop();
  stop_consumer.stop = [] {};
  stop_relay.stop = [] {};
  if (interrupted) {
    fmt::print("\ninterrupted: stopping\n");
    return 130;
  }

  // 4. The ranking.
  flashsale::refresh_with_metrics(ranking, *metrics);
  report.set_top(ranking.top(10));

  // 5. The report.
  report.add_latency(issue_latency);
  for (const auto* recorder : {&recorders.reserve, &recorders.confirm, &recorders.release,
                               &recorders.order_write, &recorders.ranking_record}) {
    report.add_latency(*recorder);
  }

  demo::check_waiting_room(report, queue);
  const std::int64_t expected_issued = std::min<std::int64_t>(options.coupons, options.users);
  report.check("coupon: issued = min(coupons, distinct users)",
               coupon_stats.issued == expected_issued && rush.issued == coupon_stats.issued,
               fmt::format("issued {} (replies {}), expected {}", coupon_stats.issued, rush.issued,
                           expected_issued));
  report.check(
      "coupon: no user issued twice, stock never negative",
      rush.users_issued_twice == 0 && coupon_stats.remaining >= 0 &&
          coupon_stats.total == coupon_stats.issued + coupon_stats.remaining,
      fmt::format("{} users twice, remaining {}", rush.users_issued_twice, coupon_stats.remaining));
  const auto coupon_rows = database.count(rows_sql);
  const auto distinct_rows = database.count(
      fmt::format("SELECT COUNT(DISTINCT user_id) FROM user_coupons WHERE coupon_id = '{}'",
                  options.coupon_id));
  report.check("database: user_coupons rows = issued, none twice",
               coupon_rows == coupon_stats.issued && distinct_rows == coupon_rows,
               fmt::format("{} rows, {} distinct users", coupon_rows, distinct_rows));

  report.check("stock: initial = available + held + confirmed in every snapshot",
               snapshots > 0 && unbalanced_snapshots == 0,
               fmt::format("{} snapshots during the sale, {} unbalanced", snapshots.load(),
                           unbalanced_snapshots.load()));
  bool final_balanced = !final_stock.skus.empty();
  bool nothing_held = final_stock.active_holds == 0;
  bool confirmed_match = true;
  std::int64_t confirmed_units = 0;
  std::string figures;
  for (const auto& sku : final_stock.skus) {
    final_balanced = final_balanced && sku_balanced(sku);
    nothing_held = nothing_held && sku.held == 0;
    confirmed_units += sku.confirmed;
    const auto replied = sale.confirmed_units.count(sku.sku) ? sale.confirmed_units.at(sku.sku) : 0;
    confirmed_match = confirmed_match && replied == sku.confirmed;
    figures += fmt::format("{}{}: {}={}+{}+{}", figures.empty() ? "" : "; ", sku.sku, sku.initial,
                           sku.available, sku.held, sku.confirmed);
  }
  report.check("stock: per SKU initial = available + held + confirmed at the end", final_balanced,
               figures);
  report.check("stock: nothing held at the end", nothing_held,
               fmt::format("{} active holds", final_stock.active_holds));
  const auto order_units = database.count("SELECT COALESCE(SUM(units), 0) FROM orders");
  report.check("stock: confirmed units = confirm replies = units in orders table",
               confirmed_match && order_units == confirmed_units,
               fmt::format("{} confirmed in Redis, {} in SQLite", confirmed_units, order_units));

  const auto orders = database.count("SELECT COUNT(*) FROM orders");
  const auto [entries, distinct_ids] =
      stream_entries_and_distinct(client, publisher.stream_for("order"), "outbox_id");
  report.check("outbox: records published = orders confirmed, none twice",
               orders == sale.confirmed_orders && entries == orders && distinct_ids == entries,
               fmt::format("{} orders, {} stream entries, {} distinct outbox ids", orders, entries,
                           distinct_ids));
  const auto calendar_stats = calendar.stats();
  report.check(
      "scheduler: opening + deal end fired once, no NotOpen after opening",
      calendar_stats.promoted == 2 && calendar_stats.pending == 0 && ended && rush.not_open == 0,
      fmt::format("{} promoted, lateness max {} ms, {} NotOpen replies", calendar_stats.promoted,
                  calendar_stats.lateness_max.value_or(-1ms).count(), rush.not_open));
  const std::string writeback_where =
      fmt::format("FROM stock_writeback WHERE scope = '{}'", options.deal_scope);
  const auto writeback_rows = database.count("SELECT COUNT(*) " + writeback_where);
  const auto writeback_confirmed =
      database.count("SELECT COALESCE(SUM(confirmed), 0) " + writeback_where);
  report.check(
      "database: stock written back at the deal end = final Redis figures",
      writeback_rows == static_cast<std::int64_t>(final_stock.skus.size()) &&
          writeback_confirmed == confirmed_units,
      fmt::format("{} SKUs, {} confirmed units written back", writeback_rows, writeback_confirmed));
  const auto consumer_stats = consumer.stats();
  report.check("stream consumer: every issued event acknowledged", consumer_stats.pending == 0,
               fmt::format("{} pending, {} acked", consumer_stats.pending, consumer_stats.acked));

  report.print();
  return report.all_passed() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  demo::DemoOptions options;
  try {
    options = demo::parse_options(argc, argv);
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "flash_sale_demo: %s\n", error.what());
    return 2;
  }
  if (options.help) {
    std::fputs(demo::usage(), stdout);
    return 0;
  }
  install_interrupt_handlers();
  try {
    return run_sale(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "flash_sale_demo: %s\n", error.what());
    return 1;
  }
}
