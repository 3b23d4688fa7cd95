#include "flashsale/sharded_coupon_issuer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>
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
#include "lua/scripts.hpp"

#include <unistd.h>

namespace flashsale {

using detail::StatusWord;
using detail::to_epoch_ms;

namespace {

constexpr std::string_view kComponent = "coupon";
// Sub-coupon ids cached per issuer before the cache starts over.
constexpr std::size_t kMaxCachedCoupons = 4096;
// Transfer records recover_transfers reads per shard per call.
constexpr std::size_t kMaxRecoveredPerShard = 1000;

ShardedCouponIssuerOptions checked(ShardedCouponIssuerOptions options) {
  detail::OptionChecks("ShardedCouponIssuerOptions")
      .between("shards", options.shards, std::size_t{1}, kMaxCouponShards)
      .between("transfer_chunk", options.transfer_chunk, std::int64_t{1}, kMaxQuantity)
      .between("max_transfer_rounds", options.max_transfer_rounds, std::size_t{1},
               kMaxCouponTransferRoundsLimit)
      .at_most("max_stream_length", options.max_stream_length, kMaxStreamLengthLimit)
      .between("max_user_id_bytes", options.max_user_id_bytes, std::size_t{1},
               kMaxMemberIdBytesLimit);
  KeySpace probe(options.key_prefix);  // InvalidArgument for a bad prefix, before any I/O
  return options;
}

FirstComeCouponIssuerOptions shard_options(const ShardedCouponIssuerOptions& options) {
  FirstComeCouponIssuerOptions shard;
  shard.key_prefix = options.key_prefix;
  shard.max_stream_length = options.max_stream_length;
  shard.max_user_id_bytes = options.max_user_id_bytes;
  shard.eviction_check = options.eviction_check;
  return shard;
}

// The sub-coupon id of `shard` of `shards`: the first "<coupon>#<shard>.<K>.<n>"
// whose slot lies in the middle half of the shard-th of K equal slot ranges,
// so both the "first ranges get the remainder" split and its mirror put it
// on the shard-th of K masters.
std::string make_sub_id(std::string_view coupon, std::size_t shard, std::size_t shards) {
  const std::size_t low = shard * kClusterSlotCount / shards;
  const std::size_t high = (shard + 1) * kClusterSlotCount / shards;
  const std::size_t margin = (high - low) / 4;
  // The probability that a try misses is at most 1 - 1/(2 * 64) per try:
  // this bound is never reached (and fails loudly if it were).
  for (std::size_t n = 0; n < 1'000'000; ++n) {
    std::string id = fmt::format("{}#{}.{}.{}", coupon, shard, shards, n);
    const std::size_t slot = hash_slot(id);
    if (shards == 1 || (slot >= low + margin && slot < high - margin)) {
      return id;
    }
  }
  throw std::logic_error("no sub-coupon id found for a shard");
}

std::uint64_t fnv1a(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char byte : bytes) {
    hash ^= static_cast<unsigned char>(byte);
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::string new_transfer_id() {
  thread_local std::mt19937_64 generator([] {
    std::random_device device;
    std::seed_seq seed{
        static_cast<std::uint64_t>(device()), static_cast<std::uint64_t>(device()),
        static_cast<std::uint64_t>(::getpid()),
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()),
        static_cast<std::uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()))};
    return std::mt19937_64(seed);
  }());
  return fmt::format("{:016x}{:016x}", generator(), generator());
}

RegisterResult parse_register_shard_reply(Reply reply, ShardedRegisterStatus& word) {
  static constexpr StatusWord<ShardedRegisterStatus> kWords[] = {
      {"created", ShardedRegisterStatus::Created},
      {"updated", ShardedRegisterStatus::Updated},
      {"unchanged", ShardedRegisterStatus::Unchanged},
      {"total_changed", ShardedRegisterStatus::TotalChanged},
      {"restoring", ShardedRegisterStatus::Restoring}};
  detail::ReplyReader reader(std::move(reply), "register_coupon_shard", 4);
  word = reader.status(kWords);
  RegisterResult result;
  result.issued = reader.integer();
  result.remaining = reader.integer();
  result.epoch = reader.count();
  switch (word) {
    case ShardedRegisterStatus::Created:
      result.status = RegisterStatus::Created;
      break;
    case ShardedRegisterStatus::Updated:
      result.status = RegisterStatus::Updated;
      break;
    case ShardedRegisterStatus::Unchanged:
      result.status = RegisterStatus::Unchanged;
      break;
    case ShardedRegisterStatus::TotalChanged:
      result.status = RegisterStatus::TotalBelowIssued;
      break;
    case ShardedRegisterStatus::Restoring:
      result.status = RegisterStatus::Restoring;
      break;
  }
  return result;
}

// "units,home,epoch" of a transfer record.
struct TransferRecord {
  std::int64_t units = 0;
  std::size_t home = 0;
  std::int64_t home_epoch = 0;
};

TransferRecord parse_record(std::string_view text) {
  TransferRecord record;
  unsigned long long home = 0;
  long long units = 0;
  long long epoch = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%lld,%llu,%lld", &units, &home, &epoch) != 3 || units < 1) {
    throw ProtocolError(fmt::format("a transfer record reads \"{}\"", text));
  }
  record.units = units;
  record.home = static_cast<std::size_t>(home);
  record.home_epoch = epoch;
  return record;
}

}  // namespace

struct ShardedCouponIssuer::ShardKeys {
  std::string meta;
  std::string stock;
  std::string issued;
  std::string queue;
  std::string seq;
  std::string revoked;
  std::string events;
  std::string shard;
  std::string transfers;
  std::string credited;
  std::string sold_out;
};

ShardedCouponIssuer::ShardedCouponIssuer(Client& client, ShardedCouponIssuerOptions options)
    : client_(client),
      options_(checked(std::move(options))),
      shard_issuer_(client, shard_options(options_)),
      refill_locks_(options_.shards),
      refills_(options_.shards),
      key_space_(options_.key_prefix) {
  const ShardKeys probe = shard_keys("probe#0.1.0");
  require_single_slot({probe.meta, probe.stock, probe.issued, probe.queue, probe.seq, probe.revoked,
                       probe.events, probe.shard, probe.transfers, probe.credited, probe.sold_out},
                      "sharded coupon scripts");
}

ShardedCouponIssuer::ShardKeys ShardedCouponIssuer::shard_keys(const std::string& sub_id) const {
  const std::string base = key_space_.tagged(kComponent, sub_id);
  return ShardKeys{base + ":meta",      base + ":stock",    base + ":issued",  base + ":queue",
                   base + ":seq",       base + ":revoked",  base + ":events",  base + ":shard",
                   base + ":transfers", base + ":credited", base + ":sold_out"};
}

void ShardedCouponIssuer::validate_coupon_id(std::string_view coupon_id) const {
  validate_key_id(coupon_id, "coupon id");
  if (coupon_id.size() > kMaxShardedCouponIdBytes) {
    throw InvalidArgument(fmt::format("a sharded coupon id is at most {} bytes, got {}",
                                      kMaxShardedCouponIdBytes, coupon_id.size()));
  }
}

void ShardedCouponIssuer::validate_shard(std::size_t shard, std::string_view what) const {
  if (shard >= options_.shards) {
    throw InvalidArgument(
        fmt::format("{} must be a shard below {}, got {}", what, options_.shards, shard));
  }
}

ShardedCouponIssuer::SubIds ShardedCouponIssuer::sub_ids(std::string_view coupon_id) const {
  validate_coupon_id(coupon_id);
  const std::string key(coupon_id);
  {
    const std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto found = sub_id_cache_.find(key);
    if (found != sub_id_cache_.end()) {
      return found->second;
    }
  }
  auto ids = std::make_shared<std::vector<std::string>>();
  ids->reserve(options_.shards);
  for (std::size_t shard = 0; shard < options_.shards; ++shard) {
    ids->push_back(make_sub_id(coupon_id, shard, options_.shards));
  }
  const std::lock_guard<std::mutex> lock(cache_mutex_);
  if (sub_id_cache_.size() >= kMaxCachedCoupons) {
    sub_id_cache_.clear();  // callers hold their lists, which outlive the cache's
  }
  return sub_id_cache_.emplace(key, std::move(ids)).first->second;
}

std::vector<std::string> ShardedCouponIssuer::sub_coupon_ids(std::string_view coupon_id) const {
  return *sub_ids(coupon_id);
}

std::vector<std::string> ShardedCouponIssuer::events_streams(std::string_view coupon_id) const {
  std::vector<std::string> streams;
  const SubIds ids = sub_ids(coupon_id);
  for (const auto& id : *ids) {
    streams.push_back(shard_issuer_.events_stream(id));
  }
  return streams;
}

std::optional<std::size_t> ShardedCouponIssuer::shard_of_sub_coupon(
    std::string_view sub_coupon_id) const {
  const auto hash = sub_coupon_id.rfind('#');
  if (hash == std::string_view::npos || hash == 0) {
    return std::nullopt;
  }
  const std::string_view coupon = sub_coupon_id.substr(0, hash);
  try {
    validate_coupon_id(coupon);
  } catch (const InvalidArgument&) {
    return std::nullopt;
  }
  const SubIds held_ids = sub_ids(coupon);
  const std::vector<std::string>& ids = *held_ids;
  for (std::size_t shard = 0; shard < ids.size(); ++shard) {
    if (ids[shard] == sub_coupon_id) {
      return shard;
    }
  }
  return std::nullopt;
}

std::size_t ShardedCouponIssuer::home_shard(std::string_view user_id) const {
  validate_member_id(user_id, "user id", options_.max_user_id_bytes);
  return static_cast<std::size_t>(fnv1a(user_id) % options_.shards);
}

ShardedRegisterResult ShardedCouponIssuer::register_template(const CouponTemplate& coupon) {
  validate_coupon_id(coupon.id);
  detail::validate_coupon_template(coupon);
  const SubIds held_ids = sub_ids(coupon.id);
  const std::vector<std::string>& ids = *held_ids;
  const auto shards = static_cast<std::int64_t>(options_.shards);
  ShardedRegisterResult result;
  bool any_created = false;
  bool any_updated = false;
  bool any_changed = false;
  bool any_restoring = false;
  for (std::size_t shard = 0; shard < ids.size(); ++shard) {
    const std::int64_t share =
        coupon.total / shards + (static_cast<std::int64_t>(shard) < coupon.total % shards ? 1 : 0);
    ShardKeys keys = shard_keys(ids[shard]);
    const ScriptCall call{
        &detail::scripts::register_coupon_shard,
        {keys.meta, keys.stock, keys.seq, keys.revoked, keys.shard},
        {std::to_string(share), std::to_string(to_epoch_ms(coupon.opens_at)),
         std::to_string(to_epoch_ms(coupon.closes_at)), std::to_string(coupon.per_user_limit),
         std::to_string(coupon.total), std::to_string(options_.shards)}};
    ShardedRegisterStatus word = ShardedRegisterStatus::Unchanged;
    result.shards.push_back(parse_register_shard_reply(client_.run_script(call), word));
    any_created |= word == ShardedRegisterStatus::Created;
    any_updated |= word == ShardedRegisterStatus::Updated;
    any_changed |= word == ShardedRegisterStatus::TotalChanged;
    any_restoring |= word == ShardedRegisterStatus::Restoring;
  }
  if (any_restoring) {
    result.status = ShardedRegisterStatus::Restoring;
  } else if (any_changed) {
    result.status = ShardedRegisterStatus::TotalChanged;
  } else if (any_created) {
    result.status = ShardedRegisterStatus::Created;
  } else if (any_updated) {
    result.status = ShardedRegisterStatus::Updated;
  } else {
    result.status = ShardedRegisterStatus::Unchanged;
  }
  return result;
}

bool ShardedCouponIssuer::sold_out_marked(const std::string& sub_id) {
  const std::string key = shard_keys(sub_id).sold_out;
  return client_.execute({{"EXISTS", key}, key, {}}).as_integer() == 1;
}

void ShardedCouponIssuer::clear_sold_out_markers(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    const std::string key = shard_keys(id).sold_out;
    client_.execute({{"DEL", key}, key, {}});
  }
}

ShardedIssueResult ShardedCouponIssuer::issue(std::string_view coupon_id,
                                              std::string_view user_id) {
  const std::size_t home = home_shard(user_id);
  const SubIds held_ids = sub_ids(coupon_id);
  const std::vector<std::string>& ids = *held_ids;
  ShardedIssueResult result;
  result.shard = home;
  const auto take_result = [&](const IssueResult& issued) {
    result.status = issued.status;
    result.sequence = issued.sequence;
    result.remaining = issued.remaining;
    result.epoch = issued.epoch;
  };
  take_result(shard_issuer_.issue(ids[home], user_id));
  for (std::size_t round = 0;
       round < options_.max_transfer_rounds && result.status == IssueStatus::SoldOut; ++round) {
    if (options_.shards == 1 || sold_out_marked(ids[home])) {
      return result;
    }
    // One refill of a shard at a time in this process: the callers that
    // found the shard empty together wait for one transfer instead of each
    // pulling a chunk (which would empty the donors and send the stock back
    // and forth). A caller that waited while another refilled the shard
    // tries the refilled shard instead, outside the lock.
    bool again = true;
    {
      const std::uint64_t refills_seen = refills_[home].load();
      const std::lock_guard<std::mutex> refill(refill_locks_[home]);
      if (refills_[home].load() == refills_seen) {
        again = refill_shard(coupon_id, ids, home, result);
        if (result.transfers > 0) {
          ++refills_[home];
        }
      }
    }
    take_result(shard_issuer_.issue(ids[home], user_id));
    if (!again) {
      break;
    }
  }
  return result;
}

bool ShardedCouponIssuer::refill_shard(std::string_view coupon_id,
                                       const std::vector<std::string>& ids, std::size_t home,
                                       ShardedIssueResult& result) {
  bool moved = false;
  bool stock_moving = false;  // some donor had units on their way to a shard
  // A transfer this issuer finished during the sweep may have put stock on
  // a shard the sweep had already passed: then do not mark either.
  const std::uint64_t transfers_before = transfers_done_.load();
  // Two passes over the donors, from a rotating start: the first takes a
  // chunk only from a donor holding at least two (so shards that are
  // themselves living on a chunk they just received are not robbed and
  // chunks do not travel back and forth), the second takes remnants.
  const std::size_t start = next_donor_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t step = 0; step < 2 * (options_.shards - 1) && !moved; ++step) {
    const std::size_t offset = 1 + (start + step) % (options_.shards - 1);
    const std::size_t donor = (home + offset) % options_.shards;
    const std::int64_t least =
        step < options_.shards - 1 ? std::min(kMaxQuantity, 2 * options_.transfer_chunk) : 1;
    std::int64_t donor_in_flight = 0;
    const PendingTransfer pending =
        take(ids, donor, home, options_.transfer_chunk, result.epoch, least, &donor_in_flight);
    stock_moving |= donor_in_flight > 0;
    if (pending.units == 0) {
      continue;
    }
    const TransferOutcome outcome = complete(ids, pending);
    if (outcome.status != TransferStatus::Moved) {
      // The home shard is being restored (or was, under us): the units
      // stay in flight for recover_transfers; let issue answer for it.
      return false;
    }
    ++result.transfers;
    moved = true;
  }
  if (moved) {
    return true;
  }
  // Units a dead process left in flight may be the only stock left: finish
  // those transfers (to whichever shard) before this shard is marked sold
  // out, so no unit waits for a host's recovery call. Units in flight
  // towards another shard are stock this sweep could not see: sweep again
  // instead of marking (a stale marker would hide them from this shard's
  // users).
  if (recover_transfers(coupon_id).finished > 0 || stock_moving ||
      transfers_done_.load() != transfers_before) {
    return true;
  }
  const std::string key = shard_keys(ids[home]).sold_out;
  client_.execute({{"SET", key, "1"}, key, {}});
  return false;
}

PendingTransfer ShardedCouponIssuer::take(const std::vector<std::string>& ids, std::size_t from,
                                          std::size_t to, std::int64_t max_units,
                                          std::int64_t home_epoch, std::int64_t least_stock,
                                          std::int64_t* donor_in_flight) {
  PendingTransfer pending;
  pending.id = new_transfer_id();
  pending.from = from;
  pending.to = to;
  pending.home_epoch = home_epoch;
  const ShardKeys keys = shard_keys(ids[from]);
  const detail::Decimal units(max_units);
  const detail::Decimal home(static_cast<std::int64_t>(to));
  const detail::Decimal epoch(home_epoch);
  const detail::Decimal least(least_stock);
  detail::ReplyReader reply(
      client_.run_script(detail::scripts::take_coupon_stock,
                         {keys.meta, keys.stock, keys.transfers},
                         {pending.id, units.view(), home.view(), epoch.view(), least.view()}),
      "take_coupon_stock", 3);
  const std::string status = reply.text();
  const std::int64_t taken = reply.count();
  if (donor_in_flight != nullptr) {
    *donor_in_flight = reply.count();
  }
  if (status == "taken") {
    pending.units = taken;
  } else if (status != "empty" && status != "restoring" && status != "unknown_coupon") {
    reply.fail("unknown status");
  }
  return pending;
}

TransferOutcome ShardedCouponIssuer::complete(const std::vector<std::string>& ids,
                                              const PendingTransfer& transfer) {
  TransferOutcome outcome;
  if (transfer.units == 0) {
    return outcome;
  }
  const ShardKeys home = shard_keys(ids[transfer.to]);
  const detail::Decimal units(transfer.units);
  const detail::Decimal epoch(transfer.home_epoch);
  detail::ReplyReader credit(client_.run_script(detail::scripts::credit_coupon_transfer,
                                                {home.meta, home.stock, home.credited},
                                                {transfer.id, units.view(), epoch.view()}),
                             "credit_coupon_transfer", 2);
  const std::string status = credit.text();
  outcome.units = credit.count();
  if (status == "credited") {
    outcome.status = TransferStatus::Moved;
    ++transfers_done_;
  } else if (status == "stale") {
    outcome.status = TransferStatus::Stale;
  } else if (status == "restoring" || status == "unknown_coupon") {
    outcome.status = TransferStatus::Restoring;
    return outcome;  // stays in flight
  } else {
    credit.fail("unknown status");
  }
  const ShardKeys donor = shard_keys(ids[transfer.from]);
  client_.run_script(detail::scripts::finish_coupon_transfer, {donor.meta, donor.transfers},
                     {transfer.id});
  return outcome;
}

PendingTransfer ShardedCouponIssuer::take_stock(std::string_view coupon_id, std::size_t from,
                                                std::size_t to, std::int64_t max_units) {
  const SubIds held_ids = sub_ids(coupon_id);
  const std::vector<std::string>& ids = *held_ids;
  validate_shard(from, "from");
  validate_shard(to, "to");
  if (from == to) {
    throw InvalidArgument(fmt::format("a transfer needs two shards, got {} twice", from));
  }
  validate_quantity(max_units, "max_units");
  const std::string meta = shard_keys(ids[to]).meta;
  const auto epoch = client_.execute({{"HGET", meta, "epoch"}, meta, {}}).as_optional_string();
  return take(ids, from, to, max_units, epoch ? std::stoll(*epoch) : 0, 1, nullptr);
}

TransferOutcome ShardedCouponIssuer::complete_transfer(std::string_view coupon_id,
                                                       const PendingTransfer& transfer) {
  const SubIds held_ids = sub_ids(coupon_id);
  const std::vector<std::string>& ids = *held_ids;
  validate_shard(transfer.from, "from");
  validate_shard(transfer.to, "to");
  if (transfer.units < 0 || transfer.units > kMaxQuantity || transfer.home_epoch < 0 ||
      transfer.home_epoch > kMaxQuantity || transfer.from == transfer.to ||
      (transfer.units > 0 && (transfer.id.empty() || transfer.id.size() > 64))) {
    throw InvalidArgument("not a transfer take_stock returned");
  }
  return complete(ids, transfer);
}

TransferRecovery ShardedCouponIssuer::recover_transfers(std::string_view coupon_id) {
  const SubIds held_ids = sub_ids(coupon_id);
  const std::vector<std::string>& ids = *held_ids;
  TransferRecovery recovery;
  for (std::size_t donor = 0; donor < ids.size(); ++donor) {
    const std::string key = shard_keys(ids[donor]).transfers;
    const Reply all = client_.execute({{"HGETALL", key}, key, {}});
    const auto& fields = all.as_array();
    for (std::size_t index = 0; index + 1 < fields.size() && index / 2 < kMaxRecoveredPerShard;
         index += 2) {
      const TransferRecord record = parse_record(fields[index + 1].as_string());
      PendingTransfer pending;
      pending.id = fields[index].as_string();
      pending.from = donor;
      pending.to = record.home;
      pending.units = record.units;
      pending.home_epoch = record.home_epoch;
      if (record.home >= ids.size() || record.home == donor) {
        throw ProtocolError(fmt::format("transfer {} names shard {}", pending.id, record.home));
      }
      const TransferOutcome outcome = complete(ids, pending);
      switch (outcome.status) {
        case TransferStatus::Moved:
          ++recovery.finished;
          recovery.units += record.units;
          break;
        case TransferStatus::Stale:
          ++recovery.stale;
          break;
        default:
          ++recovery.unfinished;
          break;
      }
    }
  }
  return recovery;
}

ShardedRevokeResult ShardedCouponIssuer::revoke(std::string_view coupon_id,
                                                std::string_view user_id, std::string_view reason,
                                                std::optional<std::int64_t> sequence) {
  const std::size_t home = home_shard(user_id);
  const SubIds held_ids = sub_ids(coupon_id);
  const std::vector<std::string>& ids = *held_ids;
  ShardedRevokeResult result;
  result.shard = home;
  result.result = shard_issuer_.revoke(ids[home], user_id, reason, sequence);
  if (result.result.status == RevokeStatus::Revoked) {
    clear_sold_out_markers(ids);
  }
  return result;
}

std::optional<ShardedCouponStats> ShardedCouponIssuer::stats(std::string_view coupon_id) {
  const SubIds held_ids = sub_ids(coupon_id);
  const std::vector<std::string>& ids = *held_ids;
  ShardedCouponStats stats;
  bool any = false;
  for (const auto& id : ids) {
    const ShardKeys keys = shard_keys(id);
    const Reply reply = client_.run_script(
        detail::scripts::coupon_shard_stats,
        {keys.meta, keys.stock, keys.seq, keys.revoked, keys.transfers, keys.sold_out}, {});
    ShardStats shard;
    if (!reply.as_array().empty()) {
      any = true;
      detail::ReplyReader reader(reply, "coupon_shard_stats", 12);
      shard.coupon.total = reader.count();
      shard.coupon.remaining = reader.integer();
      shard.coupon.last_sequence = reader.integer();
      shard.coupon.revoked = reader.integer();
      const std::int64_t retired = reader.integer();
      shard.coupon.issued = shard.coupon.last_sequence - shard.coupon.revoked - retired;
      shard.coupon.epoch = reader.count();
      shard.coupon.restoring = reader.integer() != 0;
      shard.in_flight = reader.integer();
      shard.moved_out = reader.count();
      shard.moved_in = reader.count();
      shard.transfers = reader.count();
      shard.sold_out_marker = reader.integer() != 0;
    }
    stats.total += shard.coupon.total + shard.in_flight;
    stats.issued += shard.coupon.issued;
    stats.remaining += shard.coupon.remaining;
    stats.revoked += shard.coupon.revoked;
    stats.in_flight += shard.in_flight;
    stats.restoring |= shard.coupon.restoring;
    stats.shards.push_back(shard);
  }
  if (!any) {
    return std::nullopt;
  }
  return stats;
}

std::vector<CouponRestoreResult> ShardedCouponIssuer::restore(
    const CouponTemplate& coupon, const std::vector<ShardedIssuedUser>& units,
    std::int64_t after_epoch) {
  validate_coupon_id(coupon.id);
  detail::validate_coupon_template(coupon);
  detail::validate_epoch(after_epoch, 0, "after_epoch");
  if (static_cast<std::uint64_t>(units.size()) > static_cast<std::uint64_t>(coupon.total)) {
    throw InvalidArgument(fmt::format("{} units to restore exceed the coupon total of {}",
                                      units.size(), coupon.total));
  }
  std::vector<std::vector<IssuedUser>> per_shard(options_.shards);
  std::set<std::pair<std::size_t, std::int64_t>> seen;
  std::map<std::string_view, std::int64_t> per_user;
  for (const auto& unit : units) {
    const std::size_t home = home_shard(unit.user);
    validate_shard(unit.shard, "a restored unit's shard");
    if (unit.shard != home) {
      throw InvalidArgument(
          fmt::format("user \"{}\" lives on shard {}, not {}", unit.user, home, unit.shard));
    }
    if (unit.sequence < 1 || unit.sequence > kMaxQuantity) {
      throw InvalidArgument(
          fmt::format("a restored sequence must be between 1 and 2^53, got {}", unit.sequence));
    }
    if (!seen.emplace(unit.shard, unit.sequence).second) {
      throw InvalidArgument(
          fmt::format("unit (shard {}, sequence {}) is listed twice", unit.shard, unit.sequence));
    }
    if (++per_user[unit.user] > coupon.per_user_limit) {
      throw InvalidArgument(fmt::format("user \"{}\" would hold more than per_user_limit {}",
                                        unit.user, coupon.per_user_limit));
    }
    per_shard[unit.shard].push_back(IssuedUser{unit.user, unit.sequence});
  }
  const SubIds held_ids = sub_ids(coupon.id);
  const std::vector<std::string>& ids = *held_ids;
  const auto shards = static_cast<std::int64_t>(options_.shards);
  const std::int64_t free_units = coupon.total - static_cast<std::int64_t>(units.size());

  // 1. Every shard restoring (no take can start from it any more) ...
  std::vector<std::int64_t> epochs;
  for (std::size_t shard = 0; shard < ids.size(); ++shard) {
    const std::int64_t total = static_cast<std::int64_t>(per_shard[shard].size()) +
                               free_units / shards +
                               (static_cast<std::int64_t>(shard) < free_units % shards ? 1 : 0);
    const ShardKeys keys = shard_keys(ids[shard]);
    const detail::Decimal total_text(total);
    const detail::Decimal opens_at(to_epoch_ms(coupon.opens_at));
    const detail::Decimal closes_at(to_epoch_ms(coupon.closes_at));
    const detail::Decimal limit(coupon.per_user_limit);
    const detail::Decimal after(after_epoch);
    detail::ReplyReader reply(client_.run_script(detail::scripts::restore_coupon,
                                                 {keys.meta, keys.stock, keys.issued, keys.queue,
                                                  keys.seq, keys.revoked, keys.events},
                                                 {"begin", total_text.view(), opens_at.view(),
                                                  closes_at.view(), limit.view(), after.view()}),
                              "restore_coupon begin", 2);
    if (reply.text() != "restoring") {
      reply.fail("expected restoring");
    }
    epochs.push_back(reply.count());
  }
  // 2. ... then the transfers of the lost incarnation are dropped: the totals
  // written above already count their units.
  for (const auto& id : ids) {
    const ShardKeys keys = shard_keys(id);
    client_.execute({{"DEL", keys.transfers, keys.credited, keys.sold_out}, keys.transfers, {}});
    client_.execute({{"HSET", keys.shard, "coupon_total", std::to_string(coupon.total), "shards",
                      std::to_string(options_.shards)},
                     keys.shard,
                     {}});
  }
  // 3. The persisted units, 4. the reopening of every shard.
  std::vector<CouponRestoreResult> results;
  for (std::size_t shard = 0; shard < ids.size(); ++shard) {
    const auto& shard_units = per_shard[shard];
    for (std::size_t begin = 0; begin < shard_units.size();
         begin += kMaxCouponRestoredUnitsPerBatch) {
      const std::size_t end = std::min(shard_units.size(), begin + kMaxCouponRestoredUnitsPerBatch);
      shard_issuer_.restore_issued(
          ids[shard], epochs[shard],
          std::vector<IssuedUser>(shard_units.begin() + static_cast<std::ptrdiff_t>(begin),
                                  shard_units.begin() + static_cast<std::ptrdiff_t>(end)));
    }
  }
  for (std::size_t shard = 0; shard < ids.size(); ++shard) {
    results.push_back(shard_issuer_.finish_restore(ids[shard], epochs[shard]));
  }
  return results;
}

}  // namespace flashsale
