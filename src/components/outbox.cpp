#include "flashsale/outbox.hpp"

#include <fmt/format.h>

#include "flashsale/error.hpp"
#include "flashsale/key_space.hpp"

namespace flashsale {

void validate_outbox_record(const NewOutboxRecord& record) {
  validate_key_id(record.aggregate_type, "outbox aggregate type");
  validate_member_id(record.aggregate_id, "outbox aggregate id", kMaxOutboxFieldBytes);
  validate_member_id(record.event_type, "outbox event type", kMaxOutboxFieldBytes);
  if (record.payload.size() > kMaxOutboxPayloadBytes) {
    throw InvalidArgument(fmt::format("outbox payload is {} bytes, longer than the limit of {}",
                                      record.payload.size(), kMaxOutboxPayloadBytes));
  }
}

void OutboxStore::mark_published_many(const std::vector<std::int64_t>& ids) {
  for (const auto id : ids) {
    mark_published(id);
  }
}

}  // namespace flashsale
