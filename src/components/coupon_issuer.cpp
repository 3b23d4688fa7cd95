#include "flashsale/coupon_issuer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>

#include "common/call_arguments.hpp"
#include "common/coupon_template_checks.hpp"
#include "common/epoch_validation.hpp"
#include "common/option_checks.hpp"
#include "common/script_reply.hpp"
#include "common/status_words.hpp"
#include "common/time_conversion.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/script.hpp"
#include "lua/scripts.hpp"

namespace flashsale {

using detail::status_from_word;
using detail::StatusWord;
using detail::to_epoch_ms;
using detail::validate_epoch;
using detail::validate_epoch_ms;

namespace {

constexpr std::string_view kComponent = "coupon";
// The KEYS of issue_coupon, in its order.
constexpr std::array<std::string_view, 6> kIssueKeySuffixes = {"meta",  "stock", "issued",
                                                               "queue", "seq",   "events"};
// The KEYS of restore_coupon, in its order.
constexpr std::array<std::string_view, 7> kRestoreKeySuffixes = {
    "meta", "stock", "issued", "queue", "seq", "revoked", "events"};
using RestoreKeys = detail::KeySet<kRestoreKeySuffixes.size()>;
// The call site of issue() and issue_many() for detail::thread_cached_keys.
struct IssueKeysSite;

// The replies of issue_coupon, register_coupon and revoke_coupon are all
// {status word, number, number, epoch}; `words` maps the word to the enum.
template <typename Status, std::size_t kCount>
std::tuple<Status, std::int64_t, std::int64_t, std::int64_t> parse_outcome(
    Reply reply, std::string_view script, const StatusWord<Status> (&words)[kCount]) {
  detail::ReplyReader reader(std::move(reply), script, 4);
  const Status status = reader.status(words);
  const std::int64_t first = reader.integer();
  const std::int64_t second = reader.integer();
  return {status, first, second, reader.count()};
}

IssueResult parse_issue_reply(Reply reply) {
  static constexpr StatusWord<IssueStatus> kWords[] = {
      {"issued", IssueStatus::Issued},
      {"already_issued", IssueStatus::AlreadyIssued},
      {"sold_out", IssueStatus::SoldOut},
      {"not_open", IssueStatus::NotOpen},
      {"closed", IssueStatus::Closed},
      {"restoring", IssueStatus::Restoring},
      {"unknown_coupon", IssueStatus::UnknownCoupon}};
  const auto [status, sequence, remaining, epoch] =
      parse_outcome(std::move(reply), "issue_coupon", kWords);
  return IssueResult{status, sequence, remaining, epoch};
}

RegisterResult parse_register_reply(Reply reply) {
  static constexpr StatusWord<RegisterStatus> kWords[] = {
      {"created", RegisterStatus::Created},
      {"updated", RegisterStatus::Updated},
      {"unchanged", RegisterStatus::Unchanged},
      {"total_below_issued", RegisterStatus::TotalBelowIssued},
      {"restoring", RegisterStatus::Restoring}};
  const auto [status, issued, remaining, epoch] =
      parse_outcome(std::move(reply), "register_coupon", kWords);
  return RegisterResult{status, issued, remaining, epoch};
}

RevokeResult parse_revoke_reply(Reply reply) {
  static constexpr StatusWord<RevokeStatus> kWords[] = {
      {"revoked", RevokeStatus::Revoked},
      {"not_held", RevokeStatus::NotHeld},
      {"restoring", RevokeStatus::Restoring},
      {"unknown_coupon", RevokeStatus::UnknownCoupon}};
  const auto [status, sequence, remaining, epoch] =
      parse_outcome(std::move(reply), "revoke_coupon", kWords);
  return RevokeResult{status, sequence, remaining, epoch};
}

std::optional<CouponStats> parse_stats_reply(const Reply& reply) {
  if (reply.as_array().empty()) {
    return std::nullopt;
  }
  detail::ReplyReader reader(reply, "coupon_stats", 7);
  CouponStats stats;
  stats.total = reader.integer();
  stats.remaining = reader.integer();
  stats.last_sequence = reader.integer();
  stats.revoked = reader.integer();
  const std::int64_t retired = reader.integer();
  stats.issued = stats.last_sequence - stats.revoked - retired;
  stats.epoch = reader.count();
  stats.restoring = reader.integer() != 0;
  return stats;
}

// The last entry of a held-sequences field ("17" or "17,93,120").
std::int64_t latest_sequence(std::string_view held) {
  const auto comma = held.rfind(',');
  const std::string_view last = comma == std::string_view::npos ? held : held.substr(comma + 1);
  std::int64_t sequence = 0;
  const auto [end, error] = std::from_chars(last.data(), last.data() + last.size(), sequence);
  if (error != std::errc() || end != last.data() + last.size() || sequence < 1) {
    throw ProtocolError(fmt::format("a held-sequences field reads \"{}\"", held));
  }
  return sequence;
}

}  // namespace

struct FirstComeCouponIssuer::CouponKeys {
  std::string meta;
  std::string stock;
  std::string issued;
  std::string queue;
  std::string seq;
  std::string revoked;
  std::string events;
};

FirstComeCouponIssuer::FirstComeCouponIssuer(Client& client, FirstComeCouponIssuerOptions options)
    : client_(client), options_(std::move(options)), key_space_(options_.key_prefix) {
  detail::OptionChecks("FirstComeCouponIssuerOptions")
      .at_most("max_stream_length", options_.max_stream_length, kMaxStreamLengthLimit)
      .between("max_user_id_bytes", options_.max_user_id_bytes, std::size_t{1},
               kMaxMemberIdBytesLimit);
  const CouponKeys probe = keys_for("probe");
  require_single_slot(
      {probe.meta, probe.stock, probe.issued, probe.queue, probe.seq, probe.revoked, probe.events},
      "coupon scripts");
  check_eviction_policy(client_, options_.eviction_check);
}

FirstComeCouponIssuer::CouponKeys FirstComeCouponIssuer::keys_for(
    std::string_view coupon_id) const {
  const std::string base = key_space_.tagged(kComponent, coupon_id);
  return CouponKeys{base + ":meta", base + ":stock",   base + ":issued", base + ":queue",
                    base + ":seq",  base + ":revoked", base + ":events"};
}

std::string FirstComeCouponIssuer::events_stream(std::string_view coupon_id) const {
  return keys_for(coupon_id).events;
}

void FirstComeCouponIssuer::validate_user(std::string_view user_id) const {
  validate_member_id(user_id, "user id", options_.max_user_id_bytes);
}

RegisterResult FirstComeCouponIssuer::register_template(const CouponTemplate& coupon) {
  CouponKeys keys = keys_for(coupon.id);
  detail::validate_coupon_template(coupon);
  const ScriptCall call{
      &detail::scripts::register_coupon,
      {std::move(keys.meta), std::move(keys.stock), std::move(keys.seq), std::move(keys.revoked)},
      {std::to_string(coupon.total), std::to_string(to_epoch_ms(coupon.opens_at)),
       std::to_string(to_epoch_ms(coupon.closes_at)), std::to_string(coupon.per_user_limit)}};
  return parse_register_reply(client_.run_script(call));
}

IssueResult FirstComeCouponIssuer::issue(std::string_view coupon_id, std::string_view user_id) {
  // The six keys issue_coupon takes (built once per thread for a hot
  // coupon), and the arguments as views: nothing is copied on the way to
  // the socket.
  const auto& keys = detail::thread_cached_keys<IssueKeysSite>(key_space_, kComponent, coupon_id,
                                                               kIssueKeySuffixes);
  validate_user(user_id);
  const detail::Decimal stream_cap(static_cast<std::int64_t>(options_.max_stream_length));
  return parse_issue_reply(client_.run_script(detail::scripts::issue_coupon, keys.views(),
                                              {coupon_id, user_id, stream_cap.view()}));
}

std::vector<IssueResult> FirstComeCouponIssuer::issue_many(
    std::string_view coupon_id, const std::vector<std::string>& user_ids) {
  // Every call views the same keys and cap; only the user differs.
  const auto& keys = detail::thread_cached_keys<IssueKeysSite>(key_space_, kComponent, coupon_id,
                                                               kIssueKeySuffixes);
  for (const auto& user_id : user_ids) {
    validate_user(user_id);
  }
  const detail::Decimal stream_cap(static_cast<std::int64_t>(options_.max_stream_length));
  std::vector<std::string_view> arguments;
  arguments.reserve(3 * user_ids.size());  // never reallocated: the views below stay put
  std::vector<ScriptCallView> calls;
  calls.reserve(user_ids.size());
  for (const auto& user_id : user_ids) {
    const std::size_t first = arguments.size();
    arguments.insert(arguments.end(), {coupon_id, user_id, stream_cap.view()});
    calls.push_back({&detail::scripts::issue_coupon, keys.views(), {arguments.data() + first, 3}});
  }
  std::vector<Reply> replies = client_.run_script_pipeline(calls);
  if (replies.size() != calls.size()) {
    throw ProtocolError(
        fmt::format("issue_many sent {} calls but read {} replies", calls.size(), replies.size()));
  }
  std::vector<IssueResult> results;
  results.reserve(replies.size());
  for (auto& reply : replies) {
    results.push_back(parse_issue_reply(std::move(reply)));
  }
  return results;
}

RevokeResult FirstComeCouponIssuer::revoke(std::string_view coupon_id, std::string_view user_id,
                                           std::string_view reason,
                                           std::optional<std::int64_t> sequence) {
  CouponKeys keys = keys_for(coupon_id);
  validate_user(user_id);
  if (reason.size() > kMaxCouponRevokeReasonBytes) {
    throw InvalidArgument(fmt::format("revoke reason is {} bytes, longer than the limit of {}",
                                      reason.size(), kMaxCouponRevokeReasonBytes));
  }
  if (sequence && (*sequence < 1 || *sequence > kMaxQuantity)) {
    throw InvalidArgument(fmt::format("sequence must be between 1 and 2^53, got {}", *sequence));
  }
  const ScriptCall call{
      &detail::scripts::revoke_coupon,
      {std::move(keys.meta), std::move(keys.stock), std::move(keys.issued), std::move(keys.queue),
       std::move(keys.revoked), std::move(keys.events)},
      {std::string(coupon_id), std::string(user_id), std::to_string(sequence.value_or(0)),
       std::string(reason), std::to_string(options_.max_stream_length)}};
  return parse_revoke_reply(client_.run_script(call));
}

std::optional<CouponStats> FirstComeCouponIssuer::stats(std::string_view coupon_id) {
  CouponKeys keys = keys_for(coupon_id);
  const ScriptCall call{
      &detail::scripts::coupon_stats,
      {std::move(keys.meta), std::move(keys.stock), std::move(keys.seq), std::move(keys.revoked)},
      {}};
  return parse_stats_reply(client_.run_script(call));
}

std::optional<std::int64_t> FirstComeCouponIssuer::sequence_of(std::string_view coupon_id,
                                                               std::string_view user_id) {
  const CouponKeys keys = keys_for(coupon_id);
  validate_user(user_id);
  const auto held = client_.execute({{"HGET", keys.issued, std::string(user_id)}, keys.issued, {}})
                        .as_optional_string();
  if (!held) {
    return std::nullopt;
  }
  return latest_sequence(*held);
}

std::int64_t FirstComeCouponIssuer::begin_restore(const CouponTemplate& coupon,
                                                  std::int64_t after_epoch) {
  const RestoreKeys keys(key_space_, kComponent, coupon.id, kRestoreKeySuffixes);
  detail::validate_coupon_template(coupon);
  validate_epoch(after_epoch, 0, "after_epoch");
  const detail::Decimal total(coupon.total);
  const detail::Decimal opens_at(to_epoch_ms(coupon.opens_at));
  const detail::Decimal closes_at(to_epoch_ms(coupon.closes_at));
  const detail::Decimal per_user_limit(coupon.per_user_limit);
  const detail::Decimal after(after_epoch);
  detail::ReplyReader reply(
      client_.run_script(detail::scripts::restore_coupon, keys.views(),
                         {"begin", total.view(), opens_at.view(), closes_at.view(),
                          per_user_limit.view(), after.view()}),
      "restore_coupon begin", 2);
  if (reply.text() != "restoring") {
    reply.fail("expected restoring");
  }
  return reply.count();
}

void FirstComeCouponIssuer::restore_issued(std::string_view coupon_id, std::int64_t epoch,
                                           const std::vector<IssuedUser>& units) {
  const RestoreKeys keys(key_space_, kComponent, coupon_id, kRestoreKeySuffixes);
  validate_epoch(epoch, 1, "epoch");
  if (units.empty() || units.size() > kMaxCouponRestoredUnitsPerBatch) {
    throw InvalidArgument(fmt::format("a restore batch holds 1..{} units, got {}",
                                      kMaxCouponRestoredUnitsPerBatch, units.size()));
  }
  for (const auto& unit : units) {
    validate_unit(unit);
  }
  const detail::Decimal epoch_text(epoch);
  std::vector<detail::Decimal> sequences;
  sequences.reserve(units.size());  // no reallocation below: the views stay put
  std::vector<std::string_view> arguments{"add", epoch_text.view()};
  arguments.reserve(2 + 2 * units.size());
  for (const auto& unit : units) {
    sequences.emplace_back(unit.sequence);
    arguments.push_back(unit.user);
    arguments.push_back(sequences.back().view());
  }
  detail::ReplyReader reply(
      client_.run_script(detail::scripts::restore_coupon, keys.views(), arguments),
      "restore_coupon add", 2);
}

CouponRestoreResult FirstComeCouponIssuer::finish_restore(std::string_view coupon_id,
                                                          std::int64_t epoch) {
  const RestoreKeys keys(key_space_, kComponent, coupon_id, kRestoreKeySuffixes);
  validate_epoch(epoch, 1, "epoch");
  const detail::Decimal epoch_text(epoch);
  const detail::Decimal stream_cap(static_cast<std::int64_t>(options_.max_stream_length));
  detail::ReplyReader reply(
      client_.run_script(detail::scripts::restore_coupon, keys.views(),
                         {"finish", epoch_text.view(), coupon_id, stream_cap.view()}),
      "restore_coupon finish", 5);
  if (reply.text() != "restored") {
    reply.fail("expected restored");
  }
  CouponRestoreResult result;
  result.issued = reply.count();
  result.remaining = reply.count();
  result.last_sequence = reply.count();
  result.epoch = reply.count();
  return result;
}

CouponRestoreResult FirstComeCouponIssuer::restore(const CouponTemplate& coupon,
                                                   const std::vector<IssuedUser>& units,
                                                   std::int64_t after_epoch) {
  validate_key_id(coupon.id, "coupon id");
  detail::validate_coupon_template(coupon);
  validate_epoch(after_epoch, 0, "after_epoch");
  if (static_cast<std::uint64_t>(units.size()) > static_cast<std::uint64_t>(coupon.total)) {
    throw InvalidArgument(fmt::format("{} units to restore exceed the coupon total of {}",
                                      units.size(), coupon.total));
  }
  std::set<std::pair<std::string_view, std::int64_t>> seen;
  std::map<std::string_view, std::int64_t> per_user;
  for (const auto& unit : units) {
    validate_unit(unit);
    if (!seen.emplace(unit.user, unit.sequence).second) {
      throw InvalidArgument(
          fmt::format("unit (\"{}\", {}) is listed twice", unit.user, unit.sequence));
    }
    if (++per_user[unit.user] > coupon.per_user_limit) {
      throw InvalidArgument(fmt::format("user \"{}\" would hold more than per_user_limit {}",
                                        unit.user, coupon.per_user_limit));
    }
  }
  const std::int64_t epoch = begin_restore(coupon, after_epoch);
  for (std::size_t begin = 0; begin < units.size(); begin += kMaxCouponRestoredUnitsPerBatch) {
    const std::size_t end = std::min(units.size(), begin + kMaxCouponRestoredUnitsPerBatch);
    restore_issued(coupon.id, epoch,
                   std::vector<IssuedUser>(units.begin() + static_cast<std::ptrdiff_t>(begin),
                                           units.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return finish_restore(coupon.id, epoch);
}

void FirstComeCouponIssuer::validate_unit(const IssuedUser& unit) const {
  validate_user(unit.user);
  if (unit.sequence < 1 || unit.sequence > kMaxQuantity) {
    throw InvalidArgument(
        fmt::format("a restored sequence must be between 1 and 2^53, got {}", unit.sequence));
  }
}

IssuedPage FirstComeCouponIssuer::issued_users(std::string_view coupon_id,
                                               std::int64_t after_sequence, std::size_t limit) {
  const CouponKeys keys = keys_for(coupon_id);
  if (after_sequence < 0 || after_sequence > kMaxQuantity) {
    throw InvalidArgument(
        fmt::format("after_sequence must be between 0 and 2^53, got {}", after_sequence));
  }
  if (limit < 1 || limit > kMaxCouponIssuedPageSize) {
    throw InvalidArgument(
        fmt::format("limit must be between 1 and {}, got {}", kMaxCouponIssuedPageSize, limit));
  }
  const Reply reply =
      client_.execute({{"ZRANGE", keys.queue, fmt::format("({}", after_sequence), "+inf", "BYSCORE",
                        "LIMIT", "0", std::to_string(limit), "WITHSCORES"},
                       keys.queue,
                       {}});
  IssuedPage page;
  for (auto& [user, sequence] : detail::with_scores(reply, "issued_users ZRANGE")) {
    page.users.push_back(IssuedUser{std::move(user), static_cast<std::int64_t>(sequence)});
  }
  if (page.users.size() == limit) {
    page.next_after_sequence = page.users.back().sequence;
  }
  return page;
}

}  // namespace flashsale
