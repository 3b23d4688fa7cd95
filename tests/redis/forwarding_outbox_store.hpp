// A store decorator base for the outbox tests and the relay worker program.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "flashsale/outbox.hpp"

namespace flashsale::testing {

// Forwards every call to another store; decorators override what they watch.
class ForwardingOutboxStore : public OutboxStore {
 public:
  explicit ForwardingOutboxStore(OutboxStore& inner) : inner_(inner) {}
  std::vector<OutboxRecord> fetch_due(std::size_t limit,
                                      std::chrono::system_clock::time_point now) override {
    return inner_.fetch_due(limit, now);
  }
  void mark_published(std::int64_t id) override { inner_.mark_published(id); }
  void mark_published_many(const std::vector<std::int64_t>& ids) override {
    inner_.mark_published_many(ids);
  }
  void mark_failed(std::int64_t id, std::string_view error,
                   std::chrono::system_clock::time_point next_attempt_at) override {
    inner_.mark_failed(id, error, next_attempt_at);
  }
  void mark_blocked(std::int64_t id, std::string_view error) override {
    inner_.mark_blocked(id, error);
  }
  std::vector<BlockedOutboxRecord> list_blocked(std::size_t limit) override {
    return inner_.list_blocked(limit);
  }
  bool unblock(std::int64_t id) override { return inner_.unblock(id); }

 private:
  OutboxStore& inner_;
};

}  // namespace flashsale::testing
