// The coupon race with a failure in the middle, shared by the failover tests
// and bench/failure_loss_bench: threads issue one coupon to distinct users,
// each retrying with the same ids what surfaced as ConnectionError or
// DurabilityError (the outcome is unknown), as a host must; a failure is
// injected once a quarter of the users have started; afterwards every answer
// a caller got is compared with what the server holds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flashsale/client.hpp"

namespace flashsale::testing {

struct CouponFailureRaceOptions {
  std::string coupon = "failure-race";  // registered by the race (must be new)
  int threads = 16;
  int users = 4'000;
  std::int64_t units = 2'000;
  // Retries of one call before it counts as an error.
  int max_attempts = 3'000;
  std::chrono::milliseconds retry_pause{20};
  // Runs once the coupon is registered, before the callers start (e.g. an
  // RDB snapshot that then holds the coupon but none of its issues).
  std::function<void()> registered;
};

struct CouponFailureRaceOutcome {
  int told = 0;  // users told Issued / AlreadyIssued (with a sequence)
  // Of them, users who do not hold that sequence at the end: acknowledged
  // and lost (and, when stock came back, sold again to someone else).
  int lost = 0;
  int retried = 0;            // calls sent again after ConnectionError / DurabilityError
  int durability_errors = 0;  // of them, DurabilityError
  // Sequences told to two different users (a unit sold twice).
  int told_twice = 0;
  // Calls whose first DurabilityError carried "issued" / "already_issued"
  // with a sequence from the master (acknowledged there, not by a replica),
  // and of them those whose user does not hold that sequence at the end:
  // what trusting such an answer would have lost.
  int durability_acknowledged = 0;
  int durability_acknowledged_lost = 0;
  int answered_after_failure = 0;   // answers after the failure function returned
  std::vector<std::string> errors;  // anything else that reached a caller
  std::int64_t held_units = 0;      // users holding the coupon at the end
  std::int64_t stock_left = 0;
  // held + stock = units and no sequence held twice: the state is whole.
  bool whole = true;
};

// Registers options.coupon (open for a day by the server clock), runs the
// race on `client`, calls `failure(answered)` on the calling thread once a
// quarter of the users have started (`answered` counts answers so far), and
// reads the outcome back through `client` when every caller is done.
CouponFailureRaceOutcome run_coupon_failure_race(
    Client& client, const CouponFailureRaceOptions& options,
    const std::function<void(const std::atomic<int>& answered)>& failure);

}  // namespace flashsale::testing
