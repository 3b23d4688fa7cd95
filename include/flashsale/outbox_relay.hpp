// OutboxRelay moves records from an OutboxStore to an OutboxPublisher:
// at-least-once (a record is marked published only after the publisher
// returned), with exponential backoff and jitter for failing records, and in
// id order per aggregate (a failing record holds back the later records of
// its aggregate only; other aggregates keep flowing).
//
// Several relays (threads or processes) may share one database only through
// a store that claims (PostgresOutboxStore, one store instance per relay);
// with a store that does not claim (SqliteOutboxStore) run one relay per
// database: two could publish two records of one aggregate concurrently and
// invert their order.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <random>

#include "flashsale/export.hpp"
#include "flashsale/outbox.hpp"

namespace flashsale {

struct OutboxRelayOptions {
  // Most records fetched per pass (>= 1).
  std::size_t batch_size = 100;
  // How long run() waits before the next pass when a pass found less than a
  // full batch (> 0).
  std::chrono::milliseconds poll_interval{200};
  // Delay before retrying a record after its n-th failed attempt:
  // min(backoff_max, backoff_base * 2^(n-1)), shortened by a random fraction
  // of up to `jitter` (0 <= jitter <= 0.5, so each delay stays at least as
  // long as the one before it until the cap). Both durations > 0, base <= max.
  // The same backoff paces run() after the store itself failed.
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(5)};
  double jitter = 0.2;
  // A record is blocked at its max_attempts-th failed attempt (>= 1).
  int max_attempts = 10;
};

// What one pass did. fetched = published + failed + blocked + held_back.
struct RelayReport {
  std::size_t fetched = 0;
  std::size_t published = 0;
  std::size_t failed = 0;   // failed, retried later
  std::size_t blocked = 0;  // failed for the max_attempts-th time, now blocked
  // Not attempted because an earlier record of the same aggregate failed in
  // this pass; fetched again in a later pass.
  std::size_t held_back = 0;
};

// Thread-safety: relay_once(), run() and backoff_delay() must not run
// concurrently with each other (one relay loop); stop() may be called from
// any thread at any time.
// The store and publisher must outlive the relay.
class FLASHSALE_EXPORT OutboxRelay {
 public:
  // Throws InvalidArgument for options outside the documented ranges.
  OutboxRelay(OutboxStore& store, OutboxPublisher& publisher, OutboxRelayOptions options = {});
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  // One pass: fetch the due records, publish them in id order, then mark
  // the published ones with one mark_published_many call. A publisher
  // failure (any exception) is recorded on the record (mark_failed or
  // mark_blocked) and never thrown. Exceptions of the store propagate; the
  // records of this pass not yet marked published are fetched again later
  // (and re-published: at-least-once).
  RelayReport relay_once();

  // Passes until stop(): the next one at once after a pass that fetched a
  // full batch and published some of it, after poll_interval otherwise. Any
  // exception of a pass (from the store, or anything else a pass throws) is
  // logged and the pass retried with the backoff of OutboxRelayOptions: run()
  // itself never throws. Returns after stop(), within the pass in progress.
  void run();

  // Makes run() return. A stopped relay stays stopped: a later run() returns
  // at once. Thread-safe, does not block.
  void stop();

  // The delay before the next attempt after the `attempt`-th failure (1-based),
  // with jitter. Exposed for tests and for hosts that log it.
  std::chrono::milliseconds backoff_delay(int attempt);

  const OutboxRelayOptions& options() const noexcept { return options_; }

 private:
  bool wait_for(std::chrono::milliseconds delay);

  OutboxStore& store_;
  OutboxPublisher& publisher_;
  OutboxRelayOptions options_;
  std::mt19937_64 random_;
  std::mutex mutex_;
  std::condition_variable stop_signal_;
  bool stop_requested_ = false;
};

}  // namespace flashsale
