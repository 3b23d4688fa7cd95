// StreamConsumer: at-least-once processing of Redis Streams through a consumer
// group, surviving crashed consumers and poison messages.
//
// The consumer reads new entries with XREADGROUP, hands each to a handler and
// XACKs the ones the handler accepted. An entry stays in the group's pending
// entries list (PEL) until it is acknowledged, so nothing is lost when a
// handler fails or a consumer process dies:
//
//  - Retry. A handler that returns Retry (or throws) leaves the entry in this
//    consumer's PEL. Each poll lists the first `batch_size` entries of its own
//    PEL (XPENDING ... <consumer>); those idle for `retry_backoff` since their
//    last delivery are taken again with XCLAIM (minimum idle = the backoff),
//    which increments their delivery count. The backoff is fixed, not
//    exponential. Delivery counts always come from the PEL.
//  - Recovery. Every `claim_interval` the consumer sweeps each stream's PEL
//    with XAUTOCLAIM, taking over entries idle longer than `claim_idle` (a
//    crashed or stuck consumer's). One XAUTOCLAIM call per stream and poll, so
//    a sweep over a long PEL spreads over several polls until the cursor wraps
//    to 0-0. Entries deleted from the stream while pending (Redis 7.0 returns
//    their ids; XAUTOCLAIM drops them from the PEL) are counted in
//    `deleted_while_pending` and need no handling.
//  - Dead letters. An entry whose handler failed on its `max_deliveries`-th
//    delivery, that the handler rejected with DeadLetter, or that was taken
//    over with more than `max_deliveries` deliveries, is moved to the
//    dead-letter stream and acknowledged by one script
//    (lua/dead_letter_message.lua), so it is never lost and never duplicated.
//
// `claim_idle` must exceed the longest time a live consumer may take for one
// batch; otherwise a live consumer's entries are taken over and handled twice
// (which at-least-once permits, but wastes work).
//
// Delivery guarantee: at-least-once. The handler may see an entry again after
// a crash between its effect and the XACK, after a retry, or after a
// take-over, so handlers must be idempotent (e.g. INSERT OR IGNORE on a unique
// key). Entries are lost only with Redis itself: an XADD that the server
// acknowledged but did not persist or replicate before a crash or failover,
// or an entry trimmed away (XADD MAXLEN, XTRIM) before it was delivered. An
// XACK lost the same way only causes a redelivery.
//
// Cluster: every command touches one stream, so the streams may live on
// different nodes. The dead-letter stream of `s` is `s + dead_letter_suffix`
// (default `s:dead`), moved to by one script touching both keys: on Redis
// Cluster each stream name must carry a hash tag, e.g. `fs:events:{x}` and its
// dead letters `fs:events:{x}:dead`.
//
// Batches: with run_batches()/poll_batches_once() the handler receives all
// entries of one read of one stream at once (up to batch_size) and returns a
// result per entry, so a host can write a whole batch in one database
// transaction. A batch handler that throws leaves every entry of its batch
// pending (Retry), as a rolled-back transaction leaves nothing written.
//
// Blocking reads: a blocking XREADGROUP holds its connection for up to
// block_timeout. With a StandaloneClient (and
// blocking_reads_on_own_connection, the default) the consumer makes one
// connection of its own for them, opened with the client's ConnectionOptions
// outside the client's pool, so consumers never take pool connections from
// the request path while they wait. Every other command (non-blocking reads,
// XACK, XCLAIM, ...) is short and uses the client. With another Client (e.g.
// ClusterClient) blocking reads go through the client itself.
//
// Connection errors: after run() met a ConnectionError it takes back its own
// pending entries at once (no retry_backoff, no claim_idle): the entries of
// the batch in flight when the connection broke are handled again right after
// the reconnect.
//
// Streams may be added and removed while run() goes (add_stream,
// remove_stream), e.g. one consumer for the events of every live coupon.
// Removing a stream leaves the entries this consumer still has pending in it
// in the group's PEL, where the recovery sweep of any consumer of that stream
// takes them over after claim_idle (or this one, when the stream is added
// again).
//
// Several streams: each poll reads every stream without blocking; when
// nothing arrived it blocks on one stream at a time (rotating) for
// block_timeout / number of streams, so an entry on another stream waits at
// most about one block_timeout.
//
// Thread-safety: poll_once(), run() and their batch forms are for one thread
// at a time (one consumer is one reader). stop(), stats(), add_stream(),
// remove_stream() and streams() may be called from any thread while run() is
// going, provided the client is thread-safe (StandaloneClient is).
//
// Errors: poll_once() and the queries throw ConnectionError/TimeoutError,
// ReplyError and ProtocolError for failures of Redis; see run() for how it
// treats them. The constructor throws InvalidArgument for bad options before
// any I/O, and ConfigurationError under EvictionPolicyCheck::Refuse.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flashsale/client.hpp"
#include "flashsale/export.hpp"
#include "flashsale/preflight.hpp"

namespace flashsale {

// Longest stream, group or consumer name and start id, in bytes (any bytes).
inline constexpr std::size_t kMaxStreamNameBytes = 512;
// Largest batch_size: entries one XREADGROUP, XAUTOCLAIM or retry round returns.
inline constexpr std::size_t kMaxStreamBatchSize = 10'000;

struct StreamConsumerOptions {
  // One or more distinct stream keys, read through the same group name. Each
  // needs a hash tag (e.g. "fs:events:{orders}") so that its dead-letter
  // stream lands in its slot: the dead-letter script touches both.
  std::vector<std::string> streams;
  // Consumer group name; created with XGROUP CREATE ... MKSTREAM when missing.
  std::string group;
  // This consumer's name within the group. Give each live process a distinct
  // name; a restarted process may reuse its old name (it then retries its own
  // pending entries first).
  std::string consumer;
  // Most entries one XREADGROUP, XAUTOCLAIM or retry round returns, per stream
  // (1..kMaxStreamBatchSize).
  std::size_t batch_size = 100;
  // Longest wait of one blocking XREADGROUP, and so the longest run() takes to
  // notice stop(). Must be positive (Redis treats 0 as "forever").
  std::chrono::milliseconds block_timeout{2000};
  // Where a newly created group starts: "0" delivers what the stream already
  // holds, "$" only entries added later. An existing group is never reset.
  std::string start_id = "0";
  // Entries idle longer than this in any consumer's PEL are taken over (> 0).
  std::chrono::milliseconds claim_idle{30000};
  // Pause between two recovery sweeps (> 0).
  std::chrono::milliseconds claim_interval{5000};
  // Deliveries an entry gets before it is moved to the dead-letter stream (>= 1).
  std::int64_t max_deliveries = 5;
  // Appended to a stream's name to name its dead-letter stream. No braces, so
  // it keeps the stream's hash tag.
  std::string dead_letter_suffix = ":dead";
  // Time from an entry's last delivery before a failed entry is delivered to
  // this consumer again (>= 0).
  std::chrono::milliseconds retry_backoff{1000};
  // Extra time allowed to a blocking XREADGROUP beyond block_timeout before
  // the transport gives up with TimeoutError (> 0).
  std::chrono::milliseconds blocking_read_margin{2000};
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
  // Blocking reads on a connection of the consumer's own instead of the
  // client's pool (StandaloneClient only; see above).
  bool blocking_reads_on_own_connection = true;
};

// One stream entry as the handler sees it.
struct StreamMessage {
  std::string stream;
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;  // in entry order
  // How many times this entry has been delivered, this delivery included
  // (from the PEL; 1 on the first delivery).
  std::int64_t delivery_count = 1;
};

// What the handler decided about one entry (an enum, not a result struct:
// the handler returns it, the consumer acts on it).
enum class HandlerOutcome {
  Ack,         // done: acknowledge
  Retry,       // failed: deliver again after retry_backoff (dead letter after max_deliveries)
  DeadLetter,  // will never succeed: move to the dead-letter stream now
};

// An exception thrown by the handler counts as Retry; its what() becomes the
// dead letter's last_error.
using StreamHandler = std::function<HandlerOutcome(const StreamMessage&)>;

// The batch form: the entries of one read of one stream (1..batch_size, all
// of the same stream, in stream order); returns one result per entry, in the
// same order. An exception, or a result list of another length (logged),
// counts as Retry for every entry of the batch.
using StreamBatchHandler =
    std::function<std::vector<HandlerOutcome>(const std::vector<StreamMessage>&)>;

// Counters are of this StreamConsumer object since construction; pending, lag
// and oldest_pending_age are the group's, summed over all streams.
struct StreamConsumerStats {
  std::int64_t pending = 0;  // entries delivered and not yet acknowledged (XPENDING)
  // Entries not yet delivered to the group (XINFO GROUPS lag, Redis 7.0+).
  // 0 when the group has read up to the stream's last id, whatever Redis
  // reports (its count can be stale, e.g. after XGROUP SETID/CREATE with a
  // wrong ENTRIESREAD). nullopt when Redis cannot tell (before 7.0, after
  // deletions / an arbitrary start id made the count unknown) or reports more
  // than the stream holds: never a made-up number.
  std::optional<std::int64_t> lag;
  // Server time minus the millisecond part of the id of each stream's oldest
  // pending entry (its age for auto-generated ids); nullopt when none pending.
  std::optional<std::chrono::milliseconds> oldest_pending_age;
  std::int64_t delivered = 0;      // entries handed to this consumer (new, retried, taken over)
  std::int64_t acked = 0;          // acknowledged after Ack
  std::int64_t retried = 0;        // handler outcomes Retry or an exception, left pending
  std::int64_t reclaimed = 0;      // entries taken over by the recovery sweep
  std::int64_t dead_lettered = 0;  // entries moved to a dead-letter stream
  std::int64_t deleted_while_pending = 0;  // pending entries found deleted from their stream
};

class FLASHSALE_EXPORT StreamConsumer {
 public:
  // Validates the options (InvalidArgument, nothing sent), refuses with
  // ConfigurationError (nothing sent) a stream whose dead-letter stream hashes
  // to another slot (Redis Cluster would answer CROSSSLOT), then runs the
  // eviction policy check. The groups are created by the first poll.
  StreamConsumer(Client& client, StreamConsumerOptions options);
  StreamConsumer(const StreamConsumer&) = delete;
  StreamConsumer& operator=(const StreamConsumer&) = delete;

  // One round: a recovery sweep step when due, due retries, then new entries
  // (blocking up to block_timeout when there was nothing else to do and stop()
  // has not been called). Returns the number of entries handled (handler
  // calls plus entries dead-lettered without a call). Recreates a group that
  // vanished (NOGROUP, e.g. after a restart without persistence).
  std::size_t poll_once(const StreamHandler& handler);

  // Polls until stop(). A ConnectionError (server restart, network) is
  // logged and retried after a short pause, taking this consumer's pending
  // entries back at once; every other exception ends run() and propagates.
  // Returns within about block_timeout of stop().
  void run(const StreamHandler& handler);

  // poll_once() and run() with a batch handler (see StreamBatchHandler).
  std::size_t poll_batches_once(const StreamBatchHandler& handler);
  void run_batches(const StreamBatchHandler& handler);

  // Adds a stream to read, from the next poll on (its group is created
  // then). Validated like the streams of the options: InvalidArgument for a
  // bad name or one that is another stream's dead-letter stream (or whose
  // dead-letter stream is one of the streams), ConfigurationError when its
  // dead-letter stream hashes to another slot; nothing is sent. Returns false
  // when the stream is already read.
  bool add_stream(std::string_view stream);
  // Stops reading a stream after the poll in progress; returns false when it
  // was not read. The last stream may be removed: the consumer then waits.
  bool remove_stream(std::string_view stream);
  // The streams read now (options().streams is the initial list).
  std::vector<std::string> streams() const;

  // Asks run() to return after the current round; thread-safe, does not wait.
  void stop() noexcept;
  bool stop_requested() const noexcept;

  // Counters plus a few reads (XPENDING, XINFO GROUPS, TIME) per stream. A
  // stream whose group does not exist yet counts as nothing pending and lag
  // unknown.
  StreamConsumerStats stats();

  // Deletes the group's consumers (other than this one) that have nothing
  // pending and have been idle at least `min_idle`, each checked and deleted
  // atomically by one script, so a consumer that just received entries is
  // never deleted. Returns the names deleted.
  std::vector<std::string> remove_idle_consumers(std::chrono::milliseconds min_idle);

  const StreamConsumerOptions& options() const noexcept { return options_; }
  // The dead-letter stream of `stream`.
  std::string dead_letter_stream(std::string_view stream) const;

 private:
  struct Outcome {
    HandlerOutcome result = HandlerOutcome::Retry;
    std::string error;  // why, when not Ack
  };
  using BatchCall = std::function<std::vector<Outcome>(const std::vector<StreamMessage>&)>;

  struct StreamState {
    std::string stream;
    std::string dead_letter_stream;
    std::string sweep_cursor = "0-0";  // where the running recovery sweep goes on
    bool sweep_running = false;
    std::chrono::steady_clock::time_point next_sweep_at{};
    // Whether this consumer's own PEL may hold entries waiting for a retry
    // (true at start: a restarted consumer may find its old entries).
    bool own_pending_possible = true;
    // Take back all of this consumer's pending entries at the next retry
    // round, without waiting for retry_backoff (after a connection error).
    bool retake_own_now = true;
  };

  void ensure_group(const std::string& stream);
  void ensure_groups();
  static BatchCall entry_by_entry(const StreamHandler& handler);
  BatchCall whole_batch(const StreamBatchHandler& handler) const;
  void sync_streams();
  void validate_new_stream(const std::string& stream) const;
  std::size_t poll(const BatchCall& handler);
  void run_loop(const BatchCall& handler);
  std::size_t recover(std::size_t index, const BatchCall& handler);
  std::size_t retry_due(std::size_t index, const BatchCall& handler,
                        std::chrono::milliseconds& next_retry_in);
  std::size_t read_new(std::size_t index, const BatchCall& handler,
                       std::chrono::milliseconds block);
  std::size_t handle_batch(const std::string& stream, std::vector<StreamMessage> messages,
                           const BatchCall& handler);
  bool dead_letter(const StreamMessage& message, const std::string& last_error);
  template <typename Call>
  auto with_group(const std::string& stream, Call call) -> decltype(call());

  Client& client_;
  // The consumer's own connection for blocking reads; null: the client's.
  std::unique_ptr<Client> blocking_client_;
  StreamConsumerOptions options_;
  // The streams wanted now (add_stream/remove_stream); states_ follows them
  // at the start of each poll, on the polling thread.
  mutable std::mutex streams_mutex_;
  std::condition_variable streams_changed_;
  std::vector<std::string> streams_;
  std::vector<StreamState> states_;
  std::size_t block_rotation_ = 0;
  bool groups_ready_ = false;
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::int64_t> delivered_{0};
  std::atomic<std::int64_t> acked_{0};
  std::atomic<std::int64_t> retried_{0};
  std::atomic<std::int64_t> reclaimed_{0};
  std::atomic<std::int64_t> dead_lettered_{0};
  std::atomic<std::int64_t> deleted_while_pending_{0};
};

}  // namespace flashsale
