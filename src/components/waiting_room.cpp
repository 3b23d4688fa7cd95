#include "flashsale/waiting_room.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <utility>

#include "common/status_words.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"

namespace flashsale {

using detail::from_epoch_ms;
using detail::status_from_word;
using detail::StatusWord;

namespace {

constexpr std::string_view kComponent = "room";
// The KEYS every waiting-room script takes, in this order.
constexpr std::string_view kKeySuffixes[] = {"waiting", "seen", "active", "admitted", "state"};
// "<ticket>.<expires ms>.<40 hex>": two numbers of at most 16 digits each.
constexpr std::size_t kMaxTokenBytes = 16 + 1 + 16 + 1 + 40;

constexpr StatusWord<VisitorState> kVisitorStates[] = {{"waiting", VisitorState::Waiting},
                                                       {"admitted", VisitorState::Admitted},
                                                       {"not_in_room", VisitorState::NotInRoom}};
constexpr StatusWord<VerifyStatus> kVerifyStatuses[] = {{"valid", VerifyStatus::Valid},
                                                        {"expired", VerifyStatus::Expired},
                                                        {"revoked", VerifyStatus::Revoked},
                                                        {"invalid", VerifyStatus::Invalid}};
constexpr StatusWord<RenewStatus> kRenewStatuses[] = {{"renewed", RenewStatus::Renewed},
                                                      {"not_admitted", RenewStatus::NotAdmitted}};
constexpr StatusWord<LeaveStatus> kLeaveStatuses[] = {{"left_queue", LeaveStatus::LeftQueue},
                                                      {"freed_slot", LeaveStatus::FreedSlot},
                                                      {"not_in_room", LeaveStatus::NotInRoom}};
constexpr StatusWord<CompleteStatus> kCompleteStatuses[] = {
    {"completed", CompleteStatus::Completed}, {"not_admitted", CompleteStatus::NotAdmitted}};

// 128 random bits as 32 lowercase hex digits.
std::string random_secret() {
  std::random_device device;
  std::string secret;
  for (int word = 0; word < 4; ++word) {
    secret += fmt::format("{:08x}", static_cast<std::uint32_t>(device()));
  }
  return secret;
}

std::uint64_t non_negative(const Reply& reply, std::string_view script) {
  const long long value = reply.as_integer();
  if (value < 0) {
    throw ProtocolError(fmt::format("{} replied a negative count {}", script, value));
  }
  return static_cast<std::uint64_t>(value);
}

std::optional<std::chrono::system_clock::time_point> time_point_from_ms(long long ms) {
  if (ms <= 0) {
    return std::nullopt;
  }
  return from_epoch_ms(ms);
}

// Digits, then "." (how many: 1..16); hex digits (exactly 40).
std::size_t digits(std::string_view text, std::size_t from) {
  std::size_t end = from;
  while (end < text.size() && end - from <= 16 && text[end] >= '0' && text[end] <= '9') {
    ++end;
  }
  return end - from;
}

// A token can only be of the form the scripts make,
// "<ticket>.<expires ms>.<40 hex>"; anything else is Invalid without asking
// Redis.
bool token_shaped(std::string_view token) {
  if (token.size() > kMaxTokenBytes) {
    return false;
  }
  const std::size_t ticket = digits(token, 0);
  if (ticket < 1 || ticket > 16 || ticket >= token.size() || token[ticket] != '.') {
    return false;
  }
  const std::size_t expires = digits(token, ticket + 1);
  const std::size_t mac_at = ticket + 1 + expires + 1;
  if (expires < 1 || expires > 16 || mac_at > token.size() || token[mac_at - 1] != '.' ||
      token.size() - mac_at != 40) {
    return false;
  }
  for (const char c : token.substr(mac_at)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

WaitingRoom::WaitingRoom(Client& client, WaitingRoomOptions options)
    : client_(client),
      options_(std::move(options)),
      key_space_(options_.key_prefix),
      secret_(random_secret()) {
  const double rate = options_.admission_rate_per_second;
  if (!std::isfinite(rate) || rate < 0 || rate > kMaxAdmissionRatePerSecond) {
    throw InvalidArgument(fmt::format("admission_rate_per_second must be 0..{}, got {}",
                                      kMaxAdmissionRatePerSecond, rate));
  }
  if (options_.max_active > static_cast<std::size_t>(kMaxQuantity)) {
    throw InvalidArgument(
        fmt::format("max_active must be at most 2^53, got {}", options_.max_active));
  }
  if (options_.token_ttl.count() < 1 || options_.token_ttl.count() > kMaxQuantity) {
    throw InvalidArgument(
        fmt::format("token_ttl must be 1 ms..2^53 ms, got {} ms", options_.token_ttl.count()));
  }
  if (options_.heartbeat_timeout.count() < 0 || options_.heartbeat_timeout.count() > kMaxQuantity) {
    throw InvalidArgument(fmt::format("heartbeat_timeout must be 0 (none)..2^53 ms, got {} ms",
                                      options_.heartbeat_timeout.count()));
  }
  if (options_.steps_per_call < 1 || options_.steps_per_call > kMaxWaitingRoomStepsPerCall) {
    throw InvalidArgument(fmt::format("steps_per_call must be 1..{}, got {}",
                                      kMaxWaitingRoomStepsPerCall, options_.steps_per_call));
  }
  if (options_.max_visitor_id_bytes < 1 || options_.max_visitor_id_bytes > kMaxMemberIdBytesLimit) {
    throw InvalidArgument(fmt::format("max_visitor_id_bytes must be 1..{}, got {}",
                                      kMaxMemberIdBytesLimit, options_.max_visitor_id_bytes));
  }
  opens_at_ms_ = detail::to_epoch_ms(options_.admission_opens_at);
  if (opens_at_ms_ < 0 || opens_at_ms_ > kMaxQuantity) {
    throw InvalidArgument("admission_opens_at must be between the epoch and 2^53 ms after it");
  }
  require_single_slot(keys("probe"), "waiting room scripts");
  check_eviction_policy(client_, options_.eviction_check);
}

std::vector<std::string> WaitingRoom::keys(std::string_view room) const {
  const std::string tagged = key_space_.tagged(kComponent, room);
  std::vector<std::string> keys;
  keys.reserve(std::size(kKeySuffixes));
  for (const auto suffix : kKeySuffixes) {
    keys.push_back(fmt::format("{}:{}", tagged, suffix));
  }
  return keys;
}

void WaitingRoom::validate_visitor(std::string_view visitor) const {
  validate_member_id(visitor, "visitor id", options_.max_visitor_id_bytes);
}

Reply WaitingRoom::visit(std::string_view action, std::string_view room, std::string_view visitor) {
  ScriptCall call{&bundled_script("visit_waiting_room"), keys(room), {}};
  if (action != "advance") {
    validate_visitor(visitor);
  }
  call.arguments = {std::string(action),
                    std::string(visitor),
                    fmt::format("{}", options_.admission_rate_per_second),
                    std::to_string(options_.max_active),
                    std::to_string(options_.token_ttl.count()),
                    std::to_string(options_.heartbeat_timeout.count()),
                    std::to_string(options_.steps_per_call),
                    action == "join" ? secret_ : std::string(),
                    std::to_string(opens_at_ms_),
                    std::to_string(kAdmissionRateWindow.count())};
  const Reply reply = client_.run_script(call);
  if (reply.as_array().size() != 12) {
    throw ProtocolError(fmt::format("visit_waiting_room replied {}", reply.describe()));
  }
  return reply;
}

namespace {

VisitorStatus parse_visitor_status(const Reply& reply) {
  const auto& elements = reply.as_array();
  VisitorStatus status;
  status.state = status_from_word("visit_waiting_room", elements[0].as_string(), kVisitorStates);
  status.ticket = non_negative(elements[1], "visit_waiting_room");
  status.position = non_negative(elements[2], "visit_waiting_room");
  const long long estimate_ms = elements[3].as_integer();
  if (estimate_ms >= 0) {
    status.estimated_wait = std::chrono::milliseconds(estimate_ms);
  }
  status.admitted_at = time_point_from_ms(elements[4].as_integer());
  status.expires_at = time_point_from_ms(elements[5].as_integer());
  status.token = elements[6].as_string();
  status.new_ticket = elements[7].as_integer() != 0;
  return status;
}

}  // namespace

VisitorStatus WaitingRoom::join(std::string_view room, std::string_view visitor) {
  return parse_visitor_status(visit("join", room, visitor));
}

VisitorStatus WaitingRoom::status(std::string_view room, std::string_view visitor) {
  return parse_visitor_status(visit("status", room, visitor));
}

AdvanceResult WaitingRoom::advance(std::string_view room) {
  const Reply reply = visit("advance", room, {});
  const auto& elements = reply.as_array();
  AdvanceResult result;
  result.admitted = non_negative(elements[8], "visit_waiting_room");
  result.abandoned = non_negative(elements[9], "visit_waiting_room");
  result.expired = non_negative(elements[10], "visit_waiting_room");
  result.more_due = elements[11].as_integer() != 0;
  return result;
}

VerifyStatus WaitingRoom::verify(std::string_view room, std::string_view visitor,
                                 std::string_view token) {
  ScriptCall call{&bundled_script("verify_admission"), keys(room), {}};
  validate_visitor(visitor);
  if (!token_shaped(token)) {
    return VerifyStatus::Invalid;
  }
  call.arguments = {std::string(visitor), std::string(token)};
  return status_from_word("verify_admission", client_.run_script(call).as_string(),
                          kVerifyStatuses);
}

Reply WaitingRoom::depart(std::string_view action, std::string_view room,
                          std::string_view visitor) {
  ScriptCall call{&bundled_script("leave_waiting_room"), keys(room), {}};
  validate_visitor(visitor);
  call.arguments = {std::string(action), std::string(visitor),
                    action == "renew" ? std::to_string(options_.token_ttl.count()) : "0"};
  const Reply reply = client_.run_script(call);
  if (reply.as_array().size() != 3) {
    throw ProtocolError(fmt::format("leave_waiting_room replied {}", reply.describe()));
  }
  return reply;
}

RenewResult WaitingRoom::renew(std::string_view room, std::string_view visitor) {
  const Reply reply = depart("renew", room, visitor);
  const auto& elements = reply.as_array();
  RenewResult result;
  result.status = status_from_word("leave_waiting_room", elements[0].as_string(), kRenewStatuses);
  result.expires_at = time_point_from_ms(elements[1].as_integer());
  result.token = elements[2].as_string();
  return result;
}

CompleteStatus WaitingRoom::complete(std::string_view room, std::string_view visitor) {
  return status_from_word("leave_waiting_room",
                          depart("complete", room, visitor).as_array()[0].as_string(),
                          kCompleteStatuses);
}

LeaveStatus WaitingRoom::leave(std::string_view room, std::string_view visitor) {
  return status_from_word("leave_waiting_room",
                          depart("leave", room, visitor).as_array()[0].as_string(), kLeaveStatuses);
}

RoomStats WaitingRoom::stats(std::string_view room) {
  const Reply reply =
      client_.run_script(ScriptCall{&bundled_script("waiting_room_stats"),
                                    keys(room),
                                    {std::to_string(kAdmissionRateWindow.count())}});
  const auto& elements = reply.as_array();
  if (elements.size() != 9) {
    throw ProtocolError(fmt::format("waiting_room_stats replied {}", reply.describe()));
  }
  RoomStats stats;
  stats.waiting = non_negative(elements[0], "waiting_room_stats");
  stats.active = non_negative(elements[1], "waiting_room_stats");
  stats.tickets = non_negative(elements[2], "waiting_room_stats");
  stats.admitted_total = non_negative(elements[3], "waiting_room_stats");
  stats.abandoned_total = non_negative(elements[4], "waiting_room_stats");
  stats.expired_total = non_negative(elements[5], "waiting_room_stats");
  stats.completed_total = non_negative(elements[6], "waiting_room_stats");
  stats.left_total = non_negative(elements[7], "waiting_room_stats");
  if (!elements[8].as_string().empty()) {
    stats.measured_rate_per_second = elements[8].as_double();
  }
  return stats;
}

}  // namespace flashsale
