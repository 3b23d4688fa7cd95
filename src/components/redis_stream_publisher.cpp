#include "flashsale/redis_stream_publisher.hpp"

#include <fmt/format.h>

#include "common/option_checks.hpp"
#include "common/script_reply.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"
#include "lua/scripts.hpp"

namespace flashsale {

using detail::to_epoch_ms;

namespace {

constexpr std::string_view kComponent = "outbox";

}  // namespace

RedisStreamPublisher::RedisStreamPublisher(Client& client, RedisStreamPublisherOptions options)
    : client_(client), options_(std::move(options)), keys_(options_.key_prefix) {
  if (!options_.fixed_stream.empty()) {
    validate_key_id(options_.fixed_stream, "outbox fixed stream");
  }
  detail::OptionChecks("RedisStreamPublisherOptions")
      .at_most("max_stream_length", options_.max_stream_length, kMaxStreamLengthLimit)
      .at_least("dedup_retention", options_.dedup_retention, std::chrono::milliseconds{0});
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
      &detail::scripts::publish_outbox_record,
      {stream, stream + ":published", stream + ":published-at"},
      {std::to_string(record.id), std::to_string(options_.dedup_retention.count()),
       std::to_string(options_.max_stream_length), record.aggregate_type, record.aggregate_id,
       record.event_type, record.payload, std::to_string(created_at_ms)}};
  const auto reply = client_.run_script(call);
  detail::ReplyReader published(reply, "publish_outbox_record", 2);
  std::string entry_id = published.text();
  return PublishedEntry{std::move(stream), std::move(entry_id), published.integer() == 1};
}

void RedisStreamPublisher::publish(const OutboxRecord& record) {
  publish_entry(record);
}

}  // namespace flashsale
