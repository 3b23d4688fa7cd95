#include "flashsale/sale_scheduler.hpp"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <utility>

#include "common/option_checks.hpp"
#include "common/script_reply.hpp"
#include "common/status_words.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"
#include "lua/scripts.hpp"

namespace flashsale {

using detail::from_epoch_ms;
using detail::ReplyReader;
using detail::StatusWord;

namespace {

constexpr std::string_view kComponent = "sched";
// The KEYS every scheduler script takes, in this order.
constexpr std::string_view kKeySuffixes[] = {"due", "payloads", "settled", "stream", "stats"};
// Largest due time, in ms since the epoch: Lua numbers are exact up to 2^53.
constexpr std::int64_t kMaxFireAtMs = kMaxQuantity;

constexpr StatusWord<ScheduleStatus> kScheduleStatuses[] = {
    {"scheduled", ScheduleStatus::Scheduled},
    {"already_scheduled", ScheduleStatus::AlreadyScheduled},
    {"conflict", ScheduleStatus::Conflict},
    {"already_promoted", ScheduleStatus::AlreadyPromoted},
    {"already_cancelled", ScheduleStatus::AlreadyCancelled}};
constexpr StatusWord<RescheduleStatus> kRescheduleStatuses[] = {
    {"rescheduled", RescheduleStatus::Rescheduled},
    {"already_promoted", RescheduleStatus::AlreadyPromoted},
    {"already_cancelled", RescheduleStatus::AlreadyCancelled},
    {"unknown_event", RescheduleStatus::UnknownEvent}};
constexpr StatusWord<CancelStatus> kCancelStatuses[] = {
    {"cancelled", CancelStatus::Cancelled},
    {"already_cancelled", CancelStatus::AlreadyCancelled},
    {"already_promoted", CancelStatus::AlreadyPromoted},
    {"unknown_event", CancelStatus::UnknownEvent}};
constexpr StatusWord<EventState> kEventStates[] = {{"unknown", EventState::Unknown},
                                                   {"pending", EventState::Pending},
                                                   {"promoted", EventState::Promoted},
                                                   {"cancelled", EventState::Cancelled}};

// Milliseconds since the epoch, rounded up so that an event never fires early.
std::int64_t fire_at_ms(std::chrono::system_clock::time_point fire_at) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(fire_at.time_since_epoch()).count();
  if (ms < 0 || ms > kMaxFireAtMs) {
    throw InvalidArgument(
        fmt::format("fire_at must be between the epoch and 2^53 ms after it, got {} ms", ms));
  }
  return ms;
}

std::optional<std::chrono::system_clock::time_point> optional_time(long long ms) {
  if (ms < 0) {
    return std::nullopt;
  }
  return from_epoch_ms(ms);
}

template <typename Result, typename Status, std::size_t kCount>
Result parse_status_reply(Reply reply, std::string_view script,
                          const StatusWord<Status> (&words)[kCount]) {
  ReplyReader reader(std::move(reply), script, 2);
  Result result;
  result.status = reader.status(words);
  result.due_at = optional_time(reader.integer());
  return result;
}

void validate_limit(std::size_t limit, std::size_t max, std::string_view what) {
  if (limit < 1 || limit > max) {
    throw InvalidArgument(fmt::format("{} must be between 1 and {}, got {}", what, max, limit));
  }
}

// Lateness histogram buckets as promote_due_events.lua counts them: exact
// below 32 ms, then 16 buckets per power of two. The largest value of bucket.
std::int64_t bucket_upper_bound(std::int64_t bucket) {
  if (bucket < 32) {
    return bucket;
  }
  const std::int64_t exponent = bucket / 16 - 1;
  const std::int64_t mantissa = bucket - 16 * exponent;
  return ((mantissa + 1) << exponent) - 1;
}

std::int64_t parse_integer(std::string_view text, std::string_view what) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw ProtocolError(fmt::format("{} is not an integer: \"{}\"", what, text));
  }
  return value;
}

}  // namespace

SaleScheduler::SaleScheduler(Client& client, SaleSchedulerOptions options)
    : client_(client), options_(std::move(options)), key_space_(options_.key_prefix) {
  detail::OptionChecks("SaleSchedulerOptions")
      .between("max_promote_per_call", options_.max_promote_per_call, std::size_t{1},
               kMaxSchedulerPromotePerCallLimit)
      .between("max_event_id_bytes", options_.max_event_id_bytes, std::size_t{1},
               kMaxMemberIdBytesLimit)
      .between("max_payload_bytes", options_.max_payload_bytes, std::size_t{1},
               kMaxSchedulerPayloadBytesLimit)
      .at_most("max_stream_length", options_.max_stream_length, kMaxStreamLengthLimit);
  require_single_slot(keys("probe"), "scheduler scripts");
  check_eviction_policy(client_, options_.eviction_check);
}

std::vector<std::string> SaleScheduler::keys(std::string_view schedule) const {
  const std::string tagged = key_space_.tagged(kComponent, schedule);
  std::vector<std::string> keys;
  keys.reserve(std::size(kKeySuffixes));
  for (const auto suffix : kKeySuffixes) {
    keys.push_back(fmt::format("{}:{}", tagged, suffix));
  }
  return keys;
}

std::string SaleScheduler::stream(std::string_view schedule) const {
  return key_space_.key(kComponent, schedule, "stream");
}

void SaleScheduler::validate_event_id(std::string_view event_id) const {
  validate_member_id(event_id, "event id", options_.max_event_id_bytes);
}

ScheduleResult SaleScheduler::schedule(std::string_view schedule, std::string_view event_id,
                                       std::chrono::system_clock::time_point fire_at,
                                       std::string_view payload) {
  ScriptCall call{&detail::scripts::schedule_event, keys(schedule), {}};
  validate_event_id(event_id);
  if (payload.size() > options_.max_payload_bytes) {
    throw InvalidArgument(fmt::format("payload is {} bytes, longer than the limit of {}",
                                      payload.size(), options_.max_payload_bytes));
  }
  call.arguments = {std::string(event_id), std::to_string(fire_at_ms(fire_at)),
                    std::string(payload)};
  return parse_status_reply<ScheduleResult>(client_.run_script(call), "schedule_event",
                                            kScheduleStatuses);
}

RescheduleResult SaleScheduler::reschedule(std::string_view schedule, std::string_view event_id,
                                           std::chrono::system_clock::time_point fire_at) {
  ScriptCall call{&detail::scripts::reschedule_event, keys(schedule), {}};
  validate_event_id(event_id);
  call.arguments = {std::string(event_id), std::to_string(fire_at_ms(fire_at))};
  return parse_status_reply<RescheduleResult>(client_.run_script(call), "reschedule_event",
                                              kRescheduleStatuses);
}

CancelResult SaleScheduler::cancel(std::string_view schedule, std::string_view event_id) {
  ScriptCall call{&detail::scripts::cancel_event, keys(schedule), {}};
  validate_event_id(event_id);
  call.arguments = {std::string(event_id)};
  return parse_status_reply<CancelResult>(client_.run_script(call), "cancel_event",
                                          kCancelStatuses);
}

PromoteResult SaleScheduler::promote_due(std::string_view schedule, std::size_t limit) {
  ScriptCall call{&detail::scripts::promote_due_events, keys(schedule), {}};
  validate_limit(limit, options_.max_promote_per_call, "promotion limit");
  call.arguments = {std::to_string(limit), std::to_string(options_.max_stream_length)};
  ReplyReader reader(client_.run_script(call), "promote_due_events", ReplyReader::AtLeast{2});
  if (reader.remaining() % 3 != 2 || (reader.remaining() - 2) / 3 > limit) {
    reader.fail("not {more, promoted_at} and at most `limit` {id, due, entry} triples");
  }
  PromoteResult result;
  result.more_due = reader.integer() != 0;
  result.promoted_at = from_epoch_ms(reader.count());
  result.promoted.reserve(reader.remaining() / 3);
  while (reader.remaining() > 0) {
    PromotedEvent& event = result.promoted.emplace_back();
    event.event_id = reader.text();
    event.due_at = from_epoch_ms(reader.count());
    event.stream_id = reader.text();
  }
  return result;
}

std::vector<ScheduledEvent> SaleScheduler::list(std::string_view schedule, std::string_view mode,
                                                std::size_t limit) {
  ScriptCall call{&detail::scripts::inspect_scheduled_events, keys(schedule), {}};
  validate_limit(limit, kMaxSchedulerListedEvents, "listing limit");
  call.arguments = {std::string(mode), std::to_string(limit)};
  ReplyReader reader(client_.run_script(call), "inspect_scheduled_events", ReplyReader::AtLeast{1});
  if (reader.remaining() % 3 != 1) {
    reader.fail("not {now} and {id, due, payload} triples");
  }
  reader.count();  // the server time; the caller asked for events only
  std::vector<ScheduledEvent> events;
  events.reserve(reader.remaining() / 3);
  while (reader.remaining() > 0) {
    ScheduledEvent& event = events.emplace_back();
    event.event_id = reader.text();
    event.due_at = from_epoch_ms(reader.count());
    event.payload = reader.text();
  }
  return events;
}

std::vector<ScheduledEvent> SaleScheduler::due(std::string_view schedule, std::size_t limit) {
  return list(schedule, "due", limit);
}

std::vector<ScheduledEvent> SaleScheduler::pending(std::string_view schedule, std::size_t limit) {
  return list(schedule, "pending", limit);
}

EventInfo SaleScheduler::find(std::string_view schedule, std::string_view event_id) {
  ScriptCall call{&detail::scripts::inspect_scheduled_events, keys(schedule), {}};
  validate_event_id(event_id);
  call.arguments = {"find", std::string(event_id)};
  ReplyReader reader(client_.run_script(call), "inspect_scheduled_events", 5);
  reader.count();  // the server time
  EventInfo info;
  info.state = reader.status(kEventStates);
  info.due_at = optional_time(reader.integer());
  info.settled_at = optional_time(reader.integer());
  info.payload = reader.text();
  return info;
}

SaleSchedulerStats SaleScheduler::stats(std::string_view schedule) {
  const ScriptCall call{&detail::scripts::schedule_stats, keys(schedule), {}};
  ReplyReader reader(client_.run_script(call), "schedule_stats", ReplyReader::AtLeast{4});
  if (reader.remaining() % 2 != 0) {
    reader.fail("not four figures and {field, value} pairs");
  }
  const long long now_ms = reader.count();
  SaleSchedulerStats stats;
  stats.pending = static_cast<std::size_t>(reader.count());
  stats.overdue = static_cast<std::size_t>(reader.count());
  if (const long long oldest = reader.integer(); oldest >= 0) {
    stats.oldest_overdue_age = std::chrono::milliseconds(now_ms - oldest);
  }
  std::map<std::int64_t, std::int64_t> buckets;  // ordered: lateness ascending
  std::int64_t counted = 0;
  while (reader.remaining() > 0) {
    const std::string field = reader.text();
    const std::int64_t value = parse_integer(reader.text(), field);
    if (field == "promoted") {
      stats.promoted = value;
    } else if (field == "cancelled") {
      stats.cancelled = value;
    } else if (field == "lateness_max_ms") {
      stats.lateness_max = std::chrono::milliseconds(value);
    } else if (!field.empty() && field[0] == 'b') {
      buckets[parse_integer(std::string_view(field).substr(1), "lateness bucket")] += value;
      counted += value;
    }
  }
  if (counted == 0 || !stats.lateness_max) {
    return stats;
  }
  // The smallest bucket holding the rank's event, capped by the exact maximum.
  const auto percentile = [&](double fraction) {
    const auto rank = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(fraction * static_cast<double>(counted) + 0.999999));
    std::int64_t seen = 0;
    for (const auto& [bucket, count] : buckets) {
      seen += count;
      if (seen >= rank) {
        return std::min(std::chrono::milliseconds(bucket_upper_bound(bucket)), *stats.lateness_max);
      }
    }
    return *stats.lateness_max;
  };
  stats.lateness_p50 = percentile(0.50);
  stats.lateness_p99 = percentile(0.99);
  return stats;
}

FiredEvent parse_fired_event(const StreamMessage& message) {
  FiredEvent event;
  bool has_id = false, has_due = false, has_promoted = false, has_payload = false;
  for (const auto& [name, value] : message.fields) {
    if (name == "event_id") {
      event.event_id = value;
      has_id = true;
    } else if (name == "due_at") {
      event.due_at = from_epoch_ms(parse_integer(value, "due_at"));
      has_due = true;
    } else if (name == "promoted_at") {
      event.promoted_at = from_epoch_ms(parse_integer(value, "promoted_at"));
      has_promoted = true;
    } else if (name == "payload") {
      event.payload = value;
      has_payload = true;
    }
  }
  if (!has_id || !has_due || !has_promoted || !has_payload) {
    throw ProtocolError(fmt::format("stream entry {} of {} is not a fired scheduler event",
                                    message.id, message.stream));
  }
  return event;
}

}  // namespace flashsale
