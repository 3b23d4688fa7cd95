#include "flashsale/redis_stream_publisher.hpp"

#include <fmt/format.h>

#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"

namespace flashsale {

using detail::to_epoch_ms;

namespace {

constexpr std::string_view kComponent = "outbox";

const Script& publish_script() {
  static const Script& script = bundled_script("publish_outbox_record");
  return script;
}

}  // namespace

RedisStreamPublisher::RedisStreamPublisher(Client& client, RedisStreamPublisherOptions options)
    : client_(client), options_(std::move(options)), keys_(options_.key_prefix) {
  if (!options_.fixed_stream.empty()) {
    validate_key_id(options_.fixed_stream, "outbox fixed stream");
  }
  if (options_.dedup_retention.count() < 0) {
    throw InvalidArgument("outbox dedup_retention must not be negative");
  }
  const std::string probe = stream_for("probe");
  require_single_slot({probe, probe + ":published", probe + ":published-at"},
                      "publish outbox record");
  check_eviction_policy(client_, options_.eviction_check);
}

std::string RedisStreamPublisher::stream_for(std::string_view aggregate_type) const {
  if (options_.fixed_stream.empty()) {
    return keys_.tagged(kComponent, aggregate_type);
  }
  validate_key_id(aggregate_type, "outbox aggregate type");
  return keys_.tagged(kComponent, options_.fixed_stream);
}

PublishedEntry RedisStreamPublisher::publish_entry(const OutboxRecord& record) {
  if (record.id < 1) {
    throw InvalidArgument(fmt::format("outbox record id must be positive, got {}", record.id));
  }
  validate_outbox_record(
      {record.aggregate_type, record.aggregate_id, record.event_type, record.payload});
  std::string stream = stream_for(record.aggregate_type);
  const std::int64_t created_at_ms = to_epoch_ms(record.created_at);
  ScriptCall call{
      &publish_script(),
      {stream, stream + ":published", stream + ":published-at"},
      {std::to_string(record.id), std::to_string(options_.dedup_retention.count()),
       std::to_string(options_.max_stream_length), record.aggregate_type, record.aggregate_id,
       record.event_type, record.payload, std::to_string(created_at_ms)}};
  const auto reply = client_.run_script(call);
  const auto& elements = reply.as_array();
  if (elements.size() != 2) {
    throw ProtocolError(fmt::format("publish_outbox_record replied {}", reply.describe()));
  }
  return PublishedEntry{std::move(stream), elements[0].as_string(), elements[1].as_integer() == 1};
}

void RedisStreamPublisher::publish(const OutboxRecord& record) {
  publish_entry(record);
}

}  // namespace flashsale
