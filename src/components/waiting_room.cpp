#include "flashsale/waiting_room.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <utility>

#include "common/option_checks.hpp"
#include "common/script_reply.hpp"
#include "common/status_words.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "lua/scripts.hpp"

namespace flashsale {

using detail::from_epoch_ms;
using detail::ReplyReader;
using detail::status_from_word;
using detail::StatusWord;

namespace {

constexpr std::string_view kComponent = "room";
// The KEYS every waiting-room script takes, in this order.
constexpr std::string_view kKeySuffixes[] = {"waiting", "seen", "active", "admitted", "state"};
// leave_waiting_room's reply: {status, expires_at ms, token}.
constexpr std::size_t kDepartReplySize = 3;
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
  constexpr std::chrono::milliseconds kLongest{kMaxQuantity};
  const double rate = options_.admission_rate_per_second;
  opens_at_ms_ = detail::to_epoch_ms(options_.admission_opens_at);
  detail::OptionChecks("WaitingRoomOptions")
      .require(std::isfinite(rate), "admission_rate_per_second", "must be a finite number", rate)
      .between("admission_rate_per_second", rate, 0.0, kMaxWaitingRoomAdmissionRateLimit)
      .at_most("max_active", options_.max_active, static_cast<std::size_t>(kMaxQuantity))
      .between("token_ttl", options_.token_ttl, std::chrono::milliseconds{1}, kLongest)
      .between("heartbeat_timeout", options_.heartbeat_timeout, std::chrono::milliseconds{0},
               kLongest)
      .between("steps_per_call", options_.steps_per_call, std::size_t{1},
               kMaxWaitingRoomStepsPerCallLimit)
      .between("max_visitor_id_bytes", options_.max_visitor_id_bytes, std::size_t{1},
               kMaxMemberIdBytesLimit)
      .require(opens_at_ms_ >= 0 && opens_at_ms_ <= kMaxQuantity, "admission_opens_at",
               "must be between the epoch and 2^53 ms after it",
               std::chrono::milliseconds{opens_at_ms_});
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
  ScriptCall call{&detail::scripts::visit_waiting_room, keys(room), {}};
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
                    std::to_string(kWaitingRoomRateWindow.count())};
  return client_.run_script(call);
}

namespace {

// visit_waiting_room's reply: the caller's 8 fields (NotInRoom for advance),
// then what the housekeeping did.
struct Visit {
  VisitorStatus caller;
  AdvanceResult housekeeping;
};

Visit parse_visit(Reply reply) {
  ReplyReader reader(std::move(reply), "visit_waiting_room", 12);
  Visit visit;
  VisitorStatus& status = visit.caller;
  status.state = reader.status(kVisitorStates);
  status.ticket = static_cast<std::uint64_t>(reader.count());
  status.position = static_cast<std::uint64_t>(reader.count());
  const long long estimate_ms = reader.integer();
  if (estimate_ms >= 0) {
    status.estimated_wait = std::chrono::milliseconds(estimate_ms);
  }
  status.admitted_at = time_point_from_ms(reader.integer());
  status.expires_at = time_point_from_ms(reader.integer());
  status.token = reader.text();
  status.new_ticket = reader.integer() != 0;
  AdvanceResult& result = visit.housekeeping;
  result.admitted = static_cast<std::size_t>(reader.count());
  result.abandoned = static_cast<std::size_t>(reader.count());
  result.expired = static_cast<std::size_t>(reader.count());
  result.more_due = reader.integer() != 0;
  return visit;
}

}  // namespace

VisitorStatus WaitingRoom::join(std::string_view room, std::string_view visitor) {
  return parse_visit(visit("join", room, visitor)).caller;
}

VisitorStatus WaitingRoom::status(std::string_view room, std::string_view visitor) {
  return parse_visit(visit("status", room, visitor)).caller;
}

AdvanceResult WaitingRoom::advance(std::string_view room) {
  return parse_visit(visit("advance", room, {})).housekeeping;
}

VerifyStatus WaitingRoom::verify(std::string_view room, std::string_view visitor,
                                 std::string_view token) {
  ScriptCall call{&detail::scripts::verify_admission, keys(room), {}};
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
  ScriptCall call{&detail::scripts::leave_waiting_room, keys(room), {}};
  validate_visitor(visitor);
  call.arguments = {std::string(action), std::string(visitor),
                    action == "renew" ? std::to_string(options_.token_ttl.count()) : "0"};
  return client_.run_script(call);
}

RenewResult WaitingRoom::renew(std::string_view room, std::string_view visitor) {
  ReplyReader reader(depart("renew", room, visitor), "leave_waiting_room", kDepartReplySize);
  RenewResult result;
  result.status = reader.status(kRenewStatuses);
  result.expires_at = time_point_from_ms(reader.integer());
  result.token = reader.text();
  return result;
}

CompleteStatus WaitingRoom::complete(std::string_view room, std::string_view visitor) {
  return ReplyReader(depart("complete", room, visitor), "leave_waiting_room", kDepartReplySize)
      .status(kCompleteStatuses);
}

LeaveStatus WaitingRoom::leave(std::string_view room, std::string_view visitor) {
  return ReplyReader(depart("leave", room, visitor), "leave_waiting_room", kDepartReplySize)
      .status(kLeaveStatuses);
}

RoomStats WaitingRoom::stats(std::string_view room) {
  ReplyReader reader(
      client_.run_script(ScriptCall{&detail::scripts::waiting_room_stats,
                                    keys(room),
                                    {std::to_string(kWaitingRoomRateWindow.count())}}),
      "waiting_room_stats", 9);
  RoomStats stats;
  stats.waiting = static_cast<std::size_t>(reader.count());
  stats.active = static_cast<std::size_t>(reader.count());
  stats.tickets = static_cast<std::uint64_t>(reader.count());
  stats.admitted_total = static_cast<std::uint64_t>(reader.count());
  stats.abandoned_total = static_cast<std::uint64_t>(reader.count());
  stats.expired_total = static_cast<std::uint64_t>(reader.count());
  stats.completed_total = static_cast<std::uint64_t>(reader.count());
  stats.left_total = static_cast<std::uint64_t>(reader.count());
  const double measured = reader.number();
  if (measured >= 0) {
    stats.measured_rate_per_second = measured;
  }
  return stats;
}

}  // namespace flashsale
