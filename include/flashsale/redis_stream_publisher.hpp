// RedisStreamPublisher: an OutboxPublisher that appends each record to a
// Redis stream, at most once per outbox id, so a relay that crashed after
// publishing and before marking does not duplicate the record when it
// publishes it again.
//
// Keys (one hash tag per stream, so it works on Redis Cluster):
//   <prefix>:outbox:{<aggregate_type>}               stream, one per aggregate type
//     (or <prefix>:outbox:{<fixed_stream>} for every record when fixed_stream is set)
//   <prefix>:outbox:{...}:published      hash  outbox id -> stream entry id
//   <prefix>:outbox:{...}:published-at   zset  outbox id -> publication time (server ms)
// Stream entry fields: outbox_id, aggregate_type, aggregate_id, event_type,
// payload, created_at_ms (milliseconds since the Unix epoch).
//
// Dedup retention: the hash keeps one field per published record for
// `dedup_retention`; each publish forgets up to 100 older ones, so the dedup
// keys hold about (publish rate x retention) entries. A record published,
// never marked, and published again more than `dedup_retention` later (a
// relay down that long) would appear twice. Zero retention keeps every entry
// forever (the hash grows by one field per record).
//
// Outbox ids are the dedup identity: publish one outbox table into one key
// prefix (two stores with overlapping ids need different prefixes).
//
// Thread-safe when the client is (StandaloneClient is). Redis 6.2+.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "flashsale/client.hpp"
#include "flashsale/export.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/outbox.hpp"
#include "flashsale/preflight.hpp"

namespace flashsale {

struct RedisStreamPublisherOptions {
  // First part of every key (see key_space.hpp: ":" allowed inside).
  std::string key_prefix = "fs";
  // Empty: one stream per aggregate type. Otherwise every record goes to
  // <prefix>:outbox:{<fixed_stream>} (a key id: 1..128 bytes, no braces or
  // whitespace).
  std::string fixed_stream;
  // How long a publication is remembered for deduplication; zero: forever.
  std::chrono::milliseconds dedup_retention{std::chrono::hours(24 * 7)};
  // Approximate cap on each stream's length (XADD MAXLEN ~). 0 means no cap;
  // 0..kMaxStreamLengthLimit. Consumers that fall further behind than the
  // cap lose entries.
  std::size_t max_stream_length = 0;
  // What the constructor does when the server may evict keys (preflight.hpp).
  EvictionPolicyCheck eviction_check = EvictionPolicyCheck::Warn;
};

// Where one record went.
struct PublishedEntry {
  std::string stream;
  std::string entry_id;  // the stream entry id, e.g. "1700000000000-0"
  // True when this call added the entry; false when the outbox id had been
  // published before and the first entry id is returned.
  bool added = false;
};

class FLASHSALE_EXPORT RedisStreamPublisher final : public OutboxPublisher {
 public:
  // Runs the eviction-policy check (see preflight.hpp). Throws InvalidArgument
  // for a bad prefix or fixed stream, ConfigurationError under Refuse, and
  // transport errors from the check.
  explicit RedisStreamPublisher(Client& client, RedisStreamPublisherOptions options = {});

  // Throws InvalidArgument before any I/O for a record id < 1 or a record
  // outside the limits of validate_outbox_record; transport errors otherwise
  // (a NOSCRIPT after a server restart is handled by the client).
  PublishedEntry publish_entry(const OutboxRecord& record);

  // publish_entry, for the relay.
  void publish(const OutboxRecord& record) override;

  // The stream a record of that aggregate type goes to; validates the type.
  std::string stream_for(std::string_view aggregate_type) const;

  const RedisStreamPublisherOptions& options() const noexcept { return options_; }

 private:
  Client& client_;
  RedisStreamPublisherOptions options_;
  KeySpace keys_;
};

}  // namespace flashsale
