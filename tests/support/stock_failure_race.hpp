// The stock race with a failure in the middle, the StockReserver counterpart
// of coupon_failure_race.hpp, shared by the Sentinel and cluster failover
// tests: threads reserve holds of two SKUs each, release a third of the
// first half of them and confirm the rest (more than the stock), retrying
// with the same ids what surfaced as ConnectionError or DurabilityError (the
// outcome is unknown), as a host must; a failure is injected once a quarter
// of the holds have started; afterwards every answer a caller got is
// compared with what the server holds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flashsale/client.hpp"

namespace flashsale::testing {

struct StockFailureRaceOptions {
  std::string scope = "failover-stock";  // loaded by the race (must be new)
  int skus = 3;
  std::int64_t per_sku = 800;
  int holds = 3'000;
  int threads = 16;
  std::chrono::milliseconds hold_ttl{60'000};
  // Retries of one call before it counts as an error.
  int max_attempts = 3'000;
  std::chrono::milliseconds retry_pause{20};
};

struct StockFailureRaceOutcome {
  int confirmed_told = 0;  // holds a caller was told Confirmed / AlreadyConfirmed
  // Of them, holds not confirmed at the end (a second confirm does not say
  // AlreadyConfirmed): acknowledged and lost.
  int lost = 0;
  // Units told confirmed beyond a SKU's initial stock, summed over SKUs
  // (customers were sold more than there was).
  std::int64_t oversold = 0;
  int retried = 0;            // calls sent again after ConnectionError / DurabilityError
  int durability_errors = 0;  // of them, DurabilityError
  // Confirms whose DurabilityError carried "confirmed" / "already_confirmed"
  // from the master (acknowledged there, not by a replica), and of them
  // those whose write did not last (the retry had to confirm the hold again
  // or found it gone): what trusting such an answer would have lost.
  int durability_acknowledged = 0;
  int durability_acknowledged_lost = 0;
  int answered_after_failure = 0;   // answers after the failure function returned
  std::vector<std::string> errors;  // anything else that reached a caller
  // Every SKU: initial = per_sku = available + held + confirmed, available
  // >= 0 (the scope's figures are whole).
  bool whole = true;
};

// Loads options.scope (SKUs "sku-0".. with per_sku units each), runs the race
// on `client`, calls `failure(answered)` on the calling thread once a quarter
// of the holds have started (`answered` counts confirm answers so far), and
// reads the outcome back through `client` when every caller is done.
StockFailureRaceOutcome run_stock_failure_race(
    Client& client, const StockFailureRaceOptions& options,
    const std::function<void(const std::atomic<int>& answered)>& failure);

}  // namespace flashsale::testing
