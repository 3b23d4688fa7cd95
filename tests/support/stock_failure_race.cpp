#include "stock_failure_race.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "failure_injection.hpp"
#include "flashsale/durability.hpp"
#include "flashsale/error.hpp"
#include "flashsale/stock_reserver.hpp"

namespace flashsale::testing {

namespace {

std::string sku_name(int sku) {
  return "sku-" + std::to_string(sku);
}

// The status word of a script's raw reply ({word, ...}), "" when it has none.
std::string status_word(const std::vector<Reply>& replies) {
  if (replies.empty() || replies.front().is_nil() || replies.front().is_error()) {
    return {};
  }
  try {
    const auto& fields = replies.front().as_array();
    return fields.empty() ? std::string() : fields.front().as_string();
  } catch (const Error&) {
    return {};
  }
}

}  // namespace

StockFailureRaceOutcome run_stock_failure_race(
    Client& client, const StockFailureRaceOptions& options,
    const std::function<void(const std::atomic<int>& answered)>& failure) {
  StockReserver reserver(client);
  std::vector<StockItem> stock;
  for (int sku = 0; sku < options.skus; ++sku) {
    stock.push_back({sku_name(sku), options.per_sku});
  }
  if (reserver.load(options.scope, stock).status != LoadStatus::Loaded) {
    throw std::runtime_error("stock scope " + options.scope + " exists already");
  }

  StockFailureRaceOutcome outcome;
  std::atomic<int> next_hold{0};
  std::atomic<int> answered{0};
  std::atomic<int> retried{0};
  std::atomic<int> durability_errors{0};
  std::atomic<int> durability_acknowledged{0};
  std::atomic<int> durability_acknowledged_lost{0};
  std::mutex mutex;
  std::vector<std::string> confirmed_told;
  const auto items_of = [&](int hold) {
    return std::vector<StockItem>{{sku_name(hold % options.skus), 1 + hold % 2},
                                  {sku_name((hold + 1) % options.skus), 1}};
  };
  // Retries a call with the same ids until it answers (ConnectionError and
  // DurabilityError: the outcome is unknown, the call is idempotent); the
  // status word of the first DurabilityError goes to `first_durability_word`.
  const auto until_answered = [&](auto call, std::string* first_durability_word) {
    for (int attempt = 1; attempt <= options.max_attempts; ++attempt) {
      try {
        return std::optional(call());
      } catch (const DurabilityError& error) {
        ++durability_errors;
        if (first_durability_word != nullptr && first_durability_word->empty()) {
          *first_durability_word = status_word(error.replies());
        }
      } catch (const ConnectionError&) {
      }
      ++retried;
      std::this_thread::sleep_for(options.retry_pause);
    }
    return decltype(std::optional(call()))();
  };
  std::vector<std::thread> callers;
  for (int thread = 0; thread < options.threads; ++thread) {
    callers.emplace_back([&] {
      try {
        for (int hold = next_hold++; hold < options.holds; hold = next_hold++) {
          const std::string hold_id = "hold-" + std::to_string(hold);
          const auto items = items_of(hold);
          const auto reserved = until_answered(
              [&] { return reserver.reserve(options.scope, hold_id, items, options.hold_ttl); },
              nullptr);
          if (!reserved) {
            throw std::runtime_error("reserve of " + hold_id + " never answered");
          }
          if (reserved->status != ReserveStatus::Reserved &&
              reserved->status != ReserveStatus::AlreadyReserved) {
            continue;
          }
          // A third of the first half is released; every later hold is
          // confirmed, so the stock ends confirmed to the last unit and a
          // lost confirmation would be sold again (oversold).
          if (hold % 3 == 0 && hold < options.holds / 2) {
            if (!until_answered([&] { return reserver.release(options.scope, hold_id); },
                                nullptr)) {
              throw std::runtime_error("release of " + hold_id + " never answered");
            }
            continue;
          }
          std::string durability_word;
          const auto confirmed = until_answered(
              [&] { return reserver.confirm(options.scope, hold_id); }, &durability_word);
          if (!confirmed) {
            throw std::runtime_error("confirm of " + hold_id + " never answered");
          }
          ++answered;
          if (durability_word == "confirmed" || durability_word == "already_confirmed") {
            ++durability_acknowledged;
            // The master said confirmed, but the retry did not find it so.
            durability_acknowledged_lost +=
                confirmed->status == ConfirmStatus::AlreadyConfirmed ? 0 : 1;
          }
          if (confirmed->status == ConfirmStatus::Confirmed ||
              confirmed->status == ConfirmStatus::AlreadyConfirmed) {
            const std::lock_guard<std::mutex> lock(mutex);
            confirmed_told.push_back(hold_id);
          }
        }
      } catch (const std::exception& error) {
        const std::lock_guard<std::mutex> lock(mutex);
        outcome.errors.emplace_back(error.what());
      }
    });
  }
  outcome.answered_after_failure =
      inject_failure_and_join(callers, next_hold, options.holds, answered, failure);
  outcome.retried = retried.load();
  outcome.durability_errors = durability_errors.load();
  outcome.durability_acknowledged = durability_acknowledged.load();
  outcome.durability_acknowledged_lost = durability_acknowledged_lost.load();

  const auto snapshot = reserver.snapshot(options.scope);
  outcome.whole = snapshot.skus.size() == static_cast<std::size_t>(options.skus);
  for (const auto& figures : snapshot.skus) {
    outcome.whole = outcome.whole && figures.initial == options.per_sku && figures.available >= 0 &&
                    figures.available + figures.held + figures.confirmed == figures.initial;
  }
  // Every hold a caller was told is confirmed is still confirmed (a second
  // confirm reports AlreadyConfirmed), and the units told confirmed fit in
  // the stock of each SKU.
  std::map<std::string, std::int64_t> told_units;
  for (const auto& hold_id : confirmed_told) {
    ++outcome.confirmed_told;
    const ConfirmStatus again = reserver.confirm(options.scope, hold_id).status;
    outcome.lost += again == ConfirmStatus::AlreadyConfirmed ? 0 : 1;
    for (const auto& item : items_of(std::stoi(hold_id.substr(5)))) {
      told_units[item.sku] += item.quantity;
    }
  }
  for (const auto& [sku, units] : told_units) {
    outcome.oversold += units > options.per_sku ? units - options.per_sku : 0;
  }
  return outcome;
}

}  // namespace flashsale::testing
