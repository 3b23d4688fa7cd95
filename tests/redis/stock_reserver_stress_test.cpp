// StockReserver under many threads through one pooled client: nothing is
// ever oversold, and the invariant initial = available + held + confirmed
// holds while holds are reserved, confirmed, released and abandoned.
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/stock_reserver.hpp"
#include "redis_server.hpp"
#include "stock_test_support.hpp"

using namespace std::chrono_literals;
using flashsale::ConfirmStatus;
using flashsale::ReleaseStatus;
using flashsale::ReserveStatus;
using flashsale::StockItem;
using flashsale::StockReserver;
namespace stock_test = flashsale::testing::stock;

namespace {

const std::string kScope = "stress";
const std::string kEvents = "fs:stock:{stress}:events";

std::string sku_name(int index) {
  return "sku-" + std::to_string(index);
}

// A cart of 1..3 distinct SKUs out of `sku_count`, 1..5 units each.
std::vector<StockItem> random_cart(std::mt19937& random, int sku_count) {
  std::uniform_int_distribution<int> size(1, 3);
  std::uniform_int_distribution<int> sku(0, sku_count - 1);
  std::uniform_int_distribution<int> units(1, 5);
  std::vector<StockItem> cart;
  const int wanted = size(random);
  while (static_cast<int>(cart.size()) < wanted) {
    const std::string name = sku_name(sku(random));
    bool taken = false;
    for (const auto& item : cart) {
      taken = taken || item.sku == name;
    }
    if (!taken) {
      cart.push_back({name, units(random)});
    }
  }
  return cart;
}

// Units per SKU index, one array per thread, summed at the end.
template <int kSkus>
using Units = std::array<std::int64_t, kSkus>;

template <int kSkus>
void add_cart(Units<kSkus>& units, const std::vector<StockItem>& cart) {
  for (const auto& item : cart) {
    units[std::stoi(item.sku.substr(4))] += item.quantity;
  }
}

// Loads sku-0 .. sku-<count - 1> with `units` each.
void load_skus(StockReserver& reserver, int count, std::int64_t units) {
  std::vector<StockItem> stock;
  for (int sku = 0; sku < count; ++sku) {
    stock.push_back({sku_name(sku), units});
  }
  REQUIRE(reserver.load(kScope, stock).status == flashsale::LoadStatus::Loaded);
}

bool invariant_holds(const flashsale::StockSnapshot& snapshot) {
  for (const auto& sku : snapshot.skus) {
    if (sku.available < 0 || sku.held < 0 || sku.confirmed < 0 ||
        sku.initial != sku.available + sku.held + sku.confirmed) {
      return false;
    }
  }
  return !snapshot.skus.empty();
}

}  // namespace

TEST_CASE("64 threads x 1,000,000 reserves of 1-3 sku carts never oversell a unit",
          "[stock][stress]") {
  flashsale::testing::RedisServer server;
  auto client = server.make_client(64);
  StockReserver reserver(*client);
  constexpr int kSkus = 12;
  constexpr std::int64_t kUnitsPerSku = 10000;
  constexpr int kThreads = 64;
  constexpr int kAttemptsPerThread = 1000000 / kThreads;
  load_skus(reserver, kSkus, kUnitsPerSku);

  std::vector<Units<kSkus>> reserved(kThreads, Units<kSkus>{});
  std::vector<Units<kSkus>> confirmed(kThreads, Units<kSkus>{});
  std::atomic<long long> attempts{0};
  std::atomic<long long> insufficient{0};
  std::atomic<long long> unexpected{0};
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      std::mt19937 random(static_cast<unsigned>(thread) * 7919U + 1U);
      for (int attempt = 0; attempt < kAttemptsPerThread; ++attempt) {
        const auto cart = random_cart(random, kSkus);
        const std::string hold_id = std::to_string(thread) + "-" + std::to_string(attempt);
        const auto result = reserver.reserve(kScope, hold_id, cart, 30min);
        ++attempts;
        if (result.status == ReserveStatus::Reserved) {
          add_cart<kSkus>(reserved[thread], cart);
          if (attempt % 4 == 0) {
            if (reserver.confirm(kScope, hold_id).status == ConfirmStatus::Confirmed) {
              add_cart<kSkus>(confirmed[thread], cart);
            } else {
              ++unexpected;
            }
          }
        } else if (result.status == ReserveStatus::InsufficientStock) {
          ++insufficient;
        } else {
          ++unexpected;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }

  CHECK(attempts == 1000000);
  CHECK(unexpected == 0);
  CHECK(insufficient > 0);  // the stock ran out: the threads really competed
  const auto snapshot = reserver.snapshot(kScope);
  REQUIRE(snapshot.skus.size() == kSkus);
  for (int sku = 0; sku < kSkus; ++sku) {
    std::int64_t reserved_units = 0;
    std::int64_t confirmed_units = 0;
    for (int thread = 0; thread < kThreads; ++thread) {
      reserved_units += reserved[thread][sku];
      confirmed_units += confirmed[thread][sku];
    }
    const auto figures = stock_test::figures_of(snapshot, sku_name(sku));
    INFO(sku_name(sku));
    CHECK(figures.sku == sku_name(sku));
    CHECK(figures.available >= 0);
    CHECK(figures.held + figures.confirmed == reserved_units);
    CHECK(figures.confirmed == confirmed_units);
    CHECK(figures.initial == kUnitsPerSku);
    CHECK(figures.available + figures.held + figures.confirmed == kUnitsPerSku);
  }
}

TEST_CASE(
    "a reserve/confirm/release/abandon mix with 1 s holds and a reaper keeps the invariant "
    "in 1,000 snapshots and gives every abandoned hold back",
    "[stock][stress]") {
  flashsale::testing::RedisServer server;
  auto client = server.make_client(24);
  StockReserver reserver(*client);
  constexpr int kSkus = 8;
  constexpr std::int64_t kUnitsPerSku = 20000;
  constexpr int kThreads = 16;
  load_skus(reserver, kSkus, kUnitsPerSku);

  struct Outcomes {
    Units<kSkus> confirmed_units{};
    std::vector<std::string> abandoned;     // never touched again: the reaper must take them
    std::vector<std::string> expired_late;  // confirmed (Expired) or released after the deadline
    // Confirmed after the deadline: expired by a sweep first (one hold_expired)
    // or confirmed late while still held (none).
    std::vector<std::string> reacquired;
    long long unexpected = 0;
  };
  std::vector<Outcomes> outcomes(kThreads);
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  flashsale::HoldReaperOptions reaper_options;
  reaper_options.interval = 100ms;
  flashsale::HoldReaper reaper(reserver, {kScope}, reaper_options);
  for (int thread = 0; thread < kThreads; ++thread) {
    workers.emplace_back([&, thread] {
      std::mt19937 random(static_cast<unsigned>(thread) + 17U);
      std::uniform_int_distribution<int> choice(0, 99);
      auto& mine = outcomes[thread];
      for (int attempt = 0; !stop; ++attempt) {
        const auto cart = random_cart(random, kSkus);
        const std::string hold_id = std::to_string(thread) + "-" + std::to_string(attempt);
        const auto result = reserver.reserve(kScope, hold_id, cart, 1s);
        if (result.status != ReserveStatus::Reserved) {
          mine.unexpected += result.status == ReserveStatus::InsufficientStock ? 0 : 1;
          continue;
        }
        const int action = choice(random);
        if (action < 40) {
          // On a loaded machine a confirm may come after the 1 s deadline.
          const auto confirmed = reserver.confirm(kScope, hold_id).status;
          if (confirmed == ConfirmStatus::Confirmed || confirmed == ConfirmStatus::Reacquired) {
            add_cart<kSkus>(mine.confirmed_units, cart);
          } else {
            mine.unexpected += confirmed == ConfirmStatus::Expired ? 0 : 1;
          }
          if (confirmed == ConfirmStatus::Reacquired) {
            mine.reacquired.push_back(hold_id);
          } else if (confirmed != ConfirmStatus::Confirmed) {
            mine.expired_late.push_back(hold_id);
          }
        } else if (action < 65) {
          const auto released = reserver.release(kScope, hold_id).status;
          if (released == ReleaseStatus::Expired) {
            mine.expired_late.push_back(hold_id);
          } else {
            mine.unexpected += released == ReleaseStatus::Released ? 0 : 1;
          }
        } else {
          mine.abandoned.push_back(hold_id);
        }
      }
    });
  }

  int broken_snapshots = 0;
  std::size_t most_active_holds = 0;
  for (int snapshot = 0; snapshot < 1000; ++snapshot) {
    const auto taken = reserver.snapshot(kScope);
    broken_snapshots += invariant_holds(taken) ? 0 : 1;
    most_active_holds = std::max(most_active_holds, taken.active_holds);
    std::this_thread::sleep_for(3ms);
  }
  const std::size_t reclaimed_while_running = reaper.reclaimed();
  stop = true;
  for (auto& worker : workers) {
    worker.join();
  }
  CHECK(broken_snapshots == 0);
  CHECK(most_active_holds > 0);
  INFO("reclaimed by the reaper while running: " << reclaimed_while_running);

  // Every abandoned hold expires; with no reserve coming any more, the reaper
  // alone gives back the stock of those still active now.
  const std::size_t active_at_stop = reserver.snapshot(kScope).active_holds;
  REQUIRE(stock_test::eventually([&] { return reserver.snapshot(kScope).active_holds == 0; }));
  reaper.stop();
  CHECK(reaper.failures() == 0);
  CHECK(reaper.reclaimed() >= reclaimed_while_running + active_at_stop);

  Units<kSkus> confirmed_units{};
  std::map<std::string, int> expected_expired;
  std::size_t abandoned = 0;
  long long unexpected = 0;
  for (const auto& mine : outcomes) {
    for (int sku = 0; sku < kSkus; ++sku) {
      confirmed_units[sku] += mine.confirmed_units[sku];
    }
    for (const auto& hold_id : mine.abandoned) {
      expected_expired[hold_id] = 1;
    }
    for (const auto& hold_id : mine.expired_late) {
      expected_expired[hold_id] = 1;
    }
    abandoned += mine.abandoned.size();
    unexpected += mine.unexpected;
  }
  CHECK(unexpected == 0);
  REQUIRE(abandoned > 0);
  const auto final_snapshot = reserver.snapshot(kScope);
  CHECK(invariant_holds(final_snapshot));
  for (int sku = 0; sku < kSkus; ++sku) {
    const auto figures = stock_test::figures_of(final_snapshot, sku_name(sku));
    INFO(sku_name(sku));
    CHECK(figures.sku == sku_name(sku));
    CHECK(figures.held == 0);
    CHECK(figures.confirmed == confirmed_units[sku]);
    CHECK(figures.available == kUnitsPerSku - confirmed_units[sku]);
  }

  // Each abandoned hold expired exactly once; a hold confirmed late expired
  // at most once; no other hold expired.
  std::map<std::string, int> expired_events;
  for (const auto& event : stock_test::read_events(*client, kEvents)) {
    if (event.type == "hold_expired") {
      ++expired_events[event.hold_id];
    }
  }
  for (const auto& mine : outcomes) {
    for (const auto& hold_id : mine.reacquired) {
      const auto found = expired_events.find(hold_id);
      if (found != expired_events.end()) {
        CHECK(found->second == 1);
        expired_events.erase(found);
      }
    }
  }
  CHECK(expired_events == expected_expired);
  int not_expired = 0;
  for (const auto& mine : outcomes) {
    for (const auto& hold_id : mine.abandoned) {
      not_expired += reserver.release(kScope, hold_id).status == ReleaseStatus::Expired ? 0 : 1;
    }
  }
  CHECK(not_expired == 0);
}
