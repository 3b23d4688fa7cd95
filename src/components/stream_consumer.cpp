#include "flashsale/stream_consumer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/option_checks.hpp"
#include "common/script_reply.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/log.hpp"
#include "flashsale/script.hpp"
#include "flashsale/standalone_client.hpp"
#include "lua/scripts.hpp"

namespace flashsale {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Pause of run() after a ConnectionError before it polls again.
constexpr milliseconds kReconnectPause{200};

std::string milliseconds_text(milliseconds value) {
  return std::to_string(value.count());
}

void validate_options(const StreamConsumerOptions& options) {
  if (options.streams.empty()) {
    throw InvalidArgument("stream consumer: at least one stream is required");
  }
  std::set<std::string> seen;
  for (const auto& stream : options.streams) {
    validate_member_id(stream, "stream name", kMaxStreamNameBytes);
    if (!seen.insert(stream).second) {
      throw InvalidArgument("stream consumer: stream listed twice: " + stream);
    }
  }
  validate_member_id(options.group, "consumer group name", kMaxStreamNameBytes);
  validate_member_id(options.consumer, "consumer name", kMaxStreamNameBytes);
  validate_member_id(options.start_id, "start id", kMaxStreamNameBytes);
  detail::OptionChecks("StreamConsumerOptions")
      .require(options.start_id != ">", "start_id", "must be an entry id, \"0\" or \"$\"",
               options.start_id)
      .between("batch_size", options.batch_size, std::size_t{1}, kMaxStreamBatchSize)
      .at_least("block_timeout", options.block_timeout, milliseconds{1})
      .at_least("claim_idle", options.claim_idle, milliseconds{1})
      .at_least("claim_interval", options.claim_interval, milliseconds{1})
      .at_least("retry_backoff", options.retry_backoff, milliseconds{0})
      .at_least("blocking_read_margin", options.blocking_read_margin, milliseconds{1})
      .at_least("max_deliveries", options.max_deliveries, std::int64_t{1})
      .require(!options.dead_letter_suffix.empty() &&
                   options.dead_letter_suffix.find_first_of("{}") == std::string::npos,
               "dead_letter_suffix", "must be non-empty and free of '{' and '}'",
               options.dead_letter_suffix);
  for (const auto& stream : options.streams) {
    if (seen.count(stream + options.dead_letter_suffix) != 0) {
      throw InvalidArgument("stream consumer: a stream is another stream's dead-letter stream: " +
                            stream + options.dead_letter_suffix);
    }
  }
}

bool is_reply_code(const ReplyError& error, std::string_view code) {
  return error.code() == code;
}

// An error reply saying the stream or the group does not exist (yet).
bool is_missing_group(std::string_view message) {
  return message.rfind("NOGROUP", 0) == 0 || message.find("no such key") != std::string::npos;
}

// One entry of an XREADGROUP/XCLAIM/XAUTOCLAIM reply: [id, [field, value, ...]].
// The fields are nil when the entry was deleted from the stream while pending.
struct ParsedEntry {
  std::string id;
  bool deleted = false;
  std::vector<std::pair<std::string, std::string>> fields;
};

std::vector<ParsedEntry> parse_entries(const Reply& reply) {
  std::vector<ParsedEntry> entries;
  for (const auto& element : reply.as_array()) {
    if (element.is_nil()) {
      continue;  // XCLAIM on Redis 6.2 answers nil for a deleted entry
    }
    const auto& pair = element.as_array();
    if (pair.size() != 2) {
      throw ProtocolError("stream consumer: a stream entry is not [id, fields]: " +
                          element.describe());
    }
    ParsedEntry entry;
    entry.id = pair[0].as_string();
    if (pair[1].is_nil()) {
      entry.deleted = true;
    } else {
      const auto& flat = pair[1].as_array();
      if (flat.size() % 2 != 0) {
        throw ProtocolError("stream consumer: odd number of field names and values");
      }
      entry.fields.reserve(flat.size() / 2);
      for (std::size_t i = 0; i < flat.size(); i += 2) {
        entry.fields.emplace_back(flat[i].as_string(), flat[i + 1].as_string());
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

// One entry of an extended XPENDING reply: [id, consumer, idle ms, deliveries].
struct PendingEntry {
  std::string id;
  milliseconds idle{0};
  std::int64_t deliveries = 0;
};

std::vector<PendingEntry> parse_pending(const Reply& reply) {
  std::vector<PendingEntry> entries;
  for (const auto& element : reply.as_array()) {
    const auto& fields = element.as_array();
    if (fields.size() != 4) {
      throw ProtocolError("stream consumer: unexpected XPENDING entry: " + element.describe());
    }
    entries.push_back(
        {fields[0].as_string(), milliseconds(fields[2].as_integer()), fields[3].as_integer()});
  }
  return entries;
}

// The millisecond part of an entry id "<ms>-<seq>".
std::optional<std::int64_t> id_milliseconds(const std::string& id) {
  const auto dash = id.find('-');
  const std::string part = id.substr(0, dash);
  if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos ||
      part.size() > 18) {
    return std::nullopt;
  }
  return std::stoll(part);
}

// The value of `name` in a flat [name, value, ...] reply (XINFO); nullptr when absent.
const Reply* find_field(const std::vector<Reply>& flat, std::string_view name) {
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
    if (flat[i].as_string() == name) {
      return &flat[i + 1];
    }
  }
  return nullptr;
}

}  // namespace

StreamConsumer::StreamConsumer(Client& client, StreamConsumerOptions options)
    : client_(client), options_(std::move(options)) {
  validate_options(options_);
  for (const auto& stream : options_.streams) {
    StreamState state;
    state.stream = stream;
    state.dead_letter_stream = stream + options_.dead_letter_suffix;
    require_single_slot({state.stream, state.dead_letter_stream}, "dead-letter message");
    states_.push_back(std::move(state));
  }
  streams_ = options_.streams;
  check_eviction_policy(client_, options_.eviction_check);
  if (options_.blocking_reads_on_own_connection) {
    if (const auto* standalone = dynamic_cast<const StandaloneClient*>(&client_)) {
      // One connection outside the client's pool, made on first use.
      StandaloneClientOptions own;
      own.connection = standalone->options().connection;
      own.pool.size = 1;
      own.pool.wait_timeout = milliseconds(0);
      blocking_client_ = std::make_unique<StandaloneClient>(std::move(own));
    }
  }
}

void StreamConsumer::validate_new_stream(const std::string& stream) const {
  validate_member_id(stream, "stream name", kMaxStreamNameBytes);
  for (const auto& existing : streams_) {
    if (stream == existing + options_.dead_letter_suffix ||
        stream + options_.dead_letter_suffix == existing) {
      throw InvalidArgument(
          "stream consumer: a stream would be another stream's dead-letter stream: " + stream);
    }
  }
  require_single_slot({stream, stream + options_.dead_letter_suffix}, "dead-letter message");
}

bool StreamConsumer::add_stream(std::string_view stream) {
  const std::string name(stream);
  {
    const std::lock_guard<std::mutex> lock(streams_mutex_);
    if (std::find(streams_.begin(), streams_.end(), name) != streams_.end()) {
      return false;
    }
    validate_new_stream(name);
    streams_.push_back(name);
  }
  streams_changed_.notify_all();
  return true;
}

bool StreamConsumer::remove_stream(std::string_view stream) {
  const std::lock_guard<std::mutex> lock(streams_mutex_);
  const auto found = std::find(streams_.begin(), streams_.end(), stream);
  if (found == streams_.end()) {
    return false;
  }
  streams_.erase(found);
  return true;
}

std::vector<std::string> StreamConsumer::streams() const {
  const std::lock_guard<std::mutex> lock(streams_mutex_);
  return streams_;
}

// Brings states_ in line with streams_ (polling thread only).
void StreamConsumer::sync_streams() {
  const auto wanted = streams();
  std::vector<StreamState> states;
  states.reserve(wanted.size());
  for (const auto& stream : wanted) {
    const auto found = std::find_if(states_.begin(), states_.end(), [&](const StreamState& state) {
      return state.stream == stream;
    });
    if (found != states_.end()) {
      states.push_back(std::move(*found));
      continue;
    }
    StreamState state;
    state.stream = stream;
    state.dead_letter_stream = stream + options_.dead_letter_suffix;
    states.push_back(std::move(state));
    groups_ready_ = false;  // create the new stream's group
  }
  states_ = std::move(states);
}

std::string StreamConsumer::dead_letter_stream(std::string_view stream) const {
  return std::string(stream) + options_.dead_letter_suffix;
}

void StreamConsumer::stop() noexcept {
  stop_requested_.store(true);
  streams_changed_.notify_all();
}

bool StreamConsumer::stop_requested() const noexcept {
  return stop_requested_.load();
}

void StreamConsumer::ensure_group(const std::string& stream) {
  try {
    client_.execute(
        {{"XGROUP", "CREATE", stream, options_.group, options_.start_id, "MKSTREAM"}, stream, {}});
  } catch (const ReplyError& error) {
    if (!is_reply_code(error, "BUSYGROUP")) {
      throw;
    }
  }
}

void StreamConsumer::ensure_groups() {
  if (groups_ready_) {
    return;
  }
  for (const auto& state : states_) {
    ensure_group(state.stream);
  }
  groups_ready_ = true;
}

// Runs `call`; on NOGROUP (the stream or group vanished, e.g. a restart
// without persistence) creates the group and runs it once more.
template <typename Call>
auto StreamConsumer::with_group(const std::string& stream, Call call) -> decltype(call()) {
  try {
    return call();
  } catch (const ReplyError& error) {
    if (!is_reply_code(error, "NOGROUP")) {
      throw;
    }
  }
  log_message(LogLevel::Warning,
              fmt::format("stream consumer {}: group {} of {} is missing; creating it again",
                          options_.consumer, options_.group, stream));
  ensure_group(stream);
  for (auto& state : states_) {
    if (state.stream == stream) {
      state.own_pending_possible = true;
    }
  }
  return call();
}

// The per-entry handler as a batch call: each entry on its own, an exception
// failing only its entry.
StreamConsumer::BatchCall StreamConsumer::entry_by_entry(const StreamHandler& handler) {
  return [&handler](const std::vector<StreamMessage>& messages) {
    std::vector<Outcome> outcomes;
    outcomes.reserve(messages.size());
    for (const auto& message : messages) {
      Outcome outcome;
      outcome.error = "the handler asked for a retry";
      try {
        outcome.result = handler(message);
      } catch (const std::exception& exception) {
        outcome.error = exception.what();
      } catch (...) {
        outcome.error = "the handler threw a non-standard exception";
      }
      outcomes.push_back(std::move(outcome));
    }
    return outcomes;
  };
}

// The batch handler as a batch call: an exception or a result list of the
// wrong length fails the whole batch.
StreamConsumer::BatchCall StreamConsumer::whole_batch(const StreamBatchHandler& handler) const {
  return [&handler, this](const std::vector<StreamMessage>& messages) {
    std::string error = "the batch handler asked for a retry";
    std::vector<HandlerOutcome> results;
    bool failed = false;
    try {
      results = handler(messages);
      if (results.size() != messages.size()) {
        failed = true;
        error = fmt::format("the batch handler returned {} results for {} entries", results.size(),
                            messages.size());
        log_message(LogLevel::Warning,
                    fmt::format("stream consumer {}: {}", options_.consumer, error));
      }
    } catch (const std::exception& exception) {
      failed = true;
      error = exception.what();
    } catch (...) {
      failed = true;
      error = "the batch handler threw a non-standard exception";
    }
    std::vector<Outcome> outcomes(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) {
      outcomes[i].result = failed ? HandlerOutcome::Retry : results[i];
      outcomes[i].error = error;
    }
    return outcomes;
  };
}

std::size_t StreamConsumer::poll_once(const StreamHandler& handler) {
  if (!handler) {
    throw InvalidArgument("stream consumer: the handler is empty");
  }
  return poll(entry_by_entry(handler));
}

std::size_t StreamConsumer::poll_batches_once(const StreamBatchHandler& handler) {
  if (!handler) {
    throw InvalidArgument("stream consumer: the handler is empty");
  }
  return poll(whole_batch(handler));
}

std::size_t StreamConsumer::poll(const BatchCall& handler) {
  sync_streams();
  if (states_.empty()) {
    // Nothing to read: wait for a stream to be added (or stop()).
    std::unique_lock<std::mutex> lock(streams_mutex_);
    streams_changed_.wait_for(lock, options_.block_timeout,
                              [this] { return stop_requested() || !streams_.empty(); });
    return 0;
  }
  ensure_groups();
  std::size_t handled = 0;
  const auto now = Clock::now();
  milliseconds next_work_in = options_.block_timeout;

  for (std::size_t index = 0; index < states_.size(); ++index) {
    auto& state = states_[index];
    if (!state.sweep_running && now >= state.next_sweep_at) {
      state.sweep_running = true;
      state.sweep_cursor = "0-0";
    }
    if (state.sweep_running) {
      handled += recover(index, handler);
    }
    if (state.sweep_running) {
      next_work_in = milliseconds::zero();
    } else {
      next_work_in =
          std::min(next_work_in,
                   std::chrono::duration_cast<milliseconds>(state.next_sweep_at - Clock::now()));
    }
    if (state.own_pending_possible) {
      milliseconds next_retry_in = options_.block_timeout;
      handled += retry_due(index, handler, next_retry_in);
      next_work_in = std::min(next_work_in, next_retry_in);
    }
  }

  // With one stream and nothing else done this round, the blocking read below
  // returns at once when entries wait: a non-blocking read first would only
  // cost one more round trip per batch.
  const bool single_stream = states_.size() == 1;
  const bool blocking_read_next = single_stream && handled == 0 && !stop_requested();
  if (!blocking_read_next) {
    for (std::size_t index = 0; index < states_.size(); ++index) {
      handled += read_new(index, handler, milliseconds::zero());
    }
  }

  if (handled == 0 && !stop_requested()) {
    // Nothing to do: wait for new entries on one stream, but not past the
    // next due retry or recovery sweep.
    milliseconds block = options_.block_timeout / static_cast<long>(states_.size());
    block = std::min(block, next_work_in);
    const std::size_t index = block_rotation_++ % states_.size();
    if (block >= milliseconds(1)) {
      handled += read_new(index, handler, block);
    } else if (blocking_read_next) {
      handled += read_new(index, handler, milliseconds::zero());
    }
  }
  return handled;
}

void StreamConsumer::run(const StreamHandler& handler) {
  if (!handler) {
    throw InvalidArgument("stream consumer: the handler is empty");
  }
  run_loop(entry_by_entry(handler));
}

void StreamConsumer::run_batches(const StreamBatchHandler& handler) {
  if (!handler) {
    throw InvalidArgument("stream consumer: the handler is empty");
  }
  run_loop(whole_batch(handler));
}

void StreamConsumer::run_loop(const BatchCall& handler) {
  while (!stop_requested()) {
    try {
      poll(handler);
    } catch (const ConnectionError& error) {
      log_message(LogLevel::Warning,
                  fmt::format("stream consumer {}: {}; retrying", options_.consumer, error.what()));
      groups_ready_ = false;
      // What was in flight when the connection broke (handled, maybe not
      // acknowledged) is taken back as soon as the server answers again.
      for (auto& state : states_) {
        state.own_pending_possible = true;
        state.retake_own_now = true;
      }
      const auto until = Clock::now() + kReconnectPause;
      while (!stop_requested() && Clock::now() < until) {
        std::this_thread::sleep_for(milliseconds(10));
      }
    }
  }
}

std::size_t StreamConsumer::read_new(std::size_t index, const BatchCall& handler,
                                     milliseconds block) {
  const auto& stream = states_[index].stream;
  Command command;
  command.arguments = {"XREADGROUP",      "GROUP", options_.group,
                       options_.consumer, "COUNT", std::to_string(options_.batch_size)};
  if (block > milliseconds::zero()) {
    command.arguments.push_back("BLOCK");
    command.arguments.push_back(milliseconds_text(block));
    command.timeout = block + options_.blocking_read_margin;
  }
  command.arguments.insert(command.arguments.end(), {"STREAMS", stream, ">"});
  command.routing_key = stream;

  Client& reader = block > milliseconds::zero() && blocking_client_ ? *blocking_client_ : client_;
  const Reply reply = with_group(stream, [&] { return reader.execute(command); });
  std::vector<StreamMessage> messages;
  for (const auto& stream_reply : reply.as_array()) {
    const auto& pair = stream_reply.as_array();
    if (pair.size() != 2) {
      throw ProtocolError("stream consumer: unexpected XREADGROUP reply: " + reply.describe());
    }
    for (auto& entry : parse_entries(pair[1])) {
      messages.push_back({stream, std::move(entry.id), std::move(entry.fields), 1});
    }
  }
  return handle_batch(stream, std::move(messages), handler);
}

std::size_t StreamConsumer::retry_due(std::size_t index, const BatchCall& handler,
                                      milliseconds& next_retry_in) {
  auto& state = states_[index];
  const auto& stream = state.stream;
  const auto own = parse_pending(with_group(stream, [&] {
    return client_.execute({{"XPENDING", stream, options_.group, "-", "+",
                             std::to_string(options_.batch_size), options_.consumer},
                            stream,
                            {}});
  }));
  const milliseconds min_idle =
      state.retake_own_now ? milliseconds::zero() : options_.retry_backoff;
  state.retake_own_now = false;
  if (own.empty()) {
    state.own_pending_possible = false;
    return 0;
  }
  std::vector<std::string> due_ids;
  std::unordered_map<std::string, std::int64_t> deliveries;
  for (const auto& entry : own) {
    if (entry.idle >= min_idle) {
      due_ids.push_back(entry.id);
      deliveries[entry.id] = entry.deliveries;
    } else {
      next_retry_in = std::min(next_retry_in, options_.retry_backoff - entry.idle);
    }
  }
  if (due_ids.empty()) {
    return 0;
  }
  // XCLAIM with the backoff as minimum idle time takes only entries nobody
  // touched since we listed them, and counts this delivery in the PEL.
  Command claim;
  claim.arguments = {"XCLAIM", stream, options_.group, options_.consumer,
                     milliseconds_text(min_idle)};
  claim.arguments.insert(claim.arguments.end(), due_ids.begin(), due_ids.end());
  claim.routing_key = stream;
  const Reply reply = client_.execute(claim);
  std::vector<StreamMessage> messages;
  for (auto& entry : parse_entries(reply)) {
    if (entry.deleted) {
      // Redis 6.2 keeps a deleted entry in the PEL: acknowledge it away.
      client_.execute({{"XACK", stream, options_.group, entry.id}, stream, {}});
      deleted_while_pending_.fetch_add(1);
      continue;
    }
    const auto found = deliveries.find(entry.id);
    const std::int64_t count = found == deliveries.end() ? 1 : found->second + 1;
    messages.push_back({stream, std::move(entry.id), std::move(entry.fields), count});
  }
  return handle_batch(stream, std::move(messages), handler);
}

std::size_t StreamConsumer::recover(std::size_t index, const BatchCall& handler) {
  auto& state = states_[index];
  const auto& stream = state.stream;
  const Reply reply = with_group(stream, [&] {
    return client_.execute({{"XAUTOCLAIM", stream, options_.group, options_.consumer,
                             milliseconds_text(options_.claim_idle), state.sweep_cursor, "COUNT",
                             std::to_string(options_.batch_size)},
                            stream,
                            {}});
  });
  const auto& parts = reply.as_array();
  if (parts.size() < 2) {
    throw ProtocolError("stream consumer: unexpected XAUTOCLAIM reply: " + reply.describe());
  }
  state.sweep_cursor = parts[0].as_string();
  if (state.sweep_cursor == "0-0") {
    state.sweep_running = false;
    state.next_sweep_at = Clock::now() + options_.claim_interval;
  }
  if (parts.size() >= 3) {
    // Redis 7.0+: ids of pending entries no longer in the stream, already
    // dropped from the PEL by XAUTOCLAIM.
    deleted_while_pending_.fetch_add(static_cast<std::int64_t>(parts[2].as_array().size()));
  }

  std::vector<ParsedEntry> claimed;
  std::vector<std::string> deleted_ids;
  for (auto& entry : parse_entries(parts[1])) {
    if (entry.deleted) {
      deleted_ids.push_back(std::move(entry.id));
    } else {
      claimed.push_back(std::move(entry));
    }
  }
  if (!deleted_ids.empty()) {
    // Redis 6.2 returns deleted entries with nil fields and keeps them pending.
    Command ack{{"XACK", stream, options_.group}, stream, {}};
    ack.arguments.insert(ack.arguments.end(), deleted_ids.begin(), deleted_ids.end());
    client_.execute(ack);
    deleted_while_pending_.fetch_add(static_cast<std::int64_t>(deleted_ids.size()));
  }
  if (claimed.empty()) {
    return 0;
  }
  reclaimed_.fetch_add(static_cast<std::int64_t>(claimed.size()));

  // XAUTOCLAIM does not report delivery counts; the PEL has them.
  std::vector<Command> lookups;
  lookups.reserve(claimed.size());
  for (const auto& entry : claimed) {
    lookups.push_back(
        {{"XPENDING", stream, options_.group, entry.id, entry.id, "1", options_.consumer},
         stream,
         {}});
  }
  const auto pending_replies = client_.execute_pipeline(lookups);
  std::vector<StreamMessage> messages;
  for (std::size_t i = 0; i < claimed.size(); ++i) {
    const auto pending = parse_pending(pending_replies.at(i));
    if (pending.empty()) {
      continue;  // taken by another consumer in between: it is theirs now
    }
    messages.push_back(
        {stream, std::move(claimed[i].id), std::move(claimed[i].fields), pending[0].deliveries});
  }
  return handle_batch(stream, std::move(messages), handler);
}

std::size_t StreamConsumer::handle_batch(const std::string& stream,
                                         std::vector<StreamMessage> messages,
                                         const BatchCall& handler) {
  if (messages.empty()) {
    return 0;
  }
  std::vector<std::string> ack_ids;
  std::vector<std::pair<const StreamMessage*, std::string>> dead;
  std::vector<StreamMessage> to_handle;
  to_handle.reserve(messages.size());
  bool retried_any = false;
  for (auto& message : messages) {
    delivered_.fetch_add(1);
    if (message.delivery_count > options_.max_deliveries) {
      // Taken over after its last allowed delivery (its consumer died in it).
      dead.emplace_back(&message, fmt::format("delivered {} times without an acknowledgement",
                                              message.delivery_count - 1));
      continue;
    }
    to_handle.push_back(message);
  }
  std::vector<Outcome> outcomes;
  if (!to_handle.empty()) {
    outcomes = handler(to_handle);
  }
  for (std::size_t i = 0; i < to_handle.size(); ++i) {
    const StreamMessage& message = to_handle[i];
    auto& outcome = outcomes[i];
    switch (outcome.result) {
      case HandlerOutcome::Ack:
        ack_ids.push_back(message.id);
        break;
      case HandlerOutcome::DeadLetter:
        dead.emplace_back(&message, "the handler rejected the message");
        break;
      case HandlerOutcome::Retry:
        if (message.delivery_count >= options_.max_deliveries) {
          dead.emplace_back(&message, std::move(outcome.error));
        } else {
          retried_.fetch_add(1);
          retried_any = true;
        }
        break;
    }
  }
  if (!ack_ids.empty()) {
    Command ack{{"XACK", stream, options_.group}, stream, {}};
    ack.arguments.insert(ack.arguments.end(), ack_ids.begin(), ack_ids.end());
    client_.execute(ack);
    acked_.fetch_add(static_cast<std::int64_t>(ack_ids.size()));
  }
  for (const auto& [message, error] : dead) {
    if (dead_letter(*message, error)) {
      dead_lettered_.fetch_add(1);
    }
  }
  if (retried_any) {
    for (auto& state : states_) {
      if (state.stream == stream) {
        state.own_pending_possible = true;
      }
    }
  }
  return messages.size();
}

bool StreamConsumer::dead_letter(const StreamMessage& message, const std::string& last_error) {
  const std::string dead_stream = dead_letter_stream(message.stream);
  const Reply reply =
      client_.run_script({&detail::scripts::dead_letter_message,
                          {message.stream, dead_stream},
                          {options_.group, options_.consumer, message.id, last_error}});
  detail::ReplyReader moved(reply, "dead_letter_message", 2);
  return moved.integer() == 1;
}

StreamConsumerStats StreamConsumer::stats() {
  StreamConsumerStats stats;
  stats.delivered = delivered_.load();
  stats.acked = acked_.load();
  stats.retried = retried_.load();
  stats.reclaimed = reclaimed_.load();
  stats.dead_lettered = dead_lettered_.load();
  stats.deleted_while_pending = deleted_while_pending_.load();

  const auto streams_now = streams();
  std::optional<std::int64_t> lag = 0;
  std::optional<std::int64_t> oldest_id_ms;
  for (const auto& stream : streams_now) {
    const auto replies =
        client_.execute_pipeline({{{"XPENDING", stream, options_.group}, stream, {}},
                                  {{"XINFO", "GROUPS", stream}, stream, {}},
                                  {{"XINFO", "STREAM", stream}, stream, {}}});
    if (replies.at(0).is_error() && is_missing_group(replies[0].error_message())) {
      lag = std::nullopt;  // no group yet (before the first poll): nothing pending
      continue;
    }
    // XPENDING summary: [count, smallest id, greatest id, [[consumer, count]...]].
    const auto& summary = replies.at(0).as_array();
    if (summary.size() != 4) {
      throw ProtocolError("stream consumer: unexpected XPENDING summary: " + replies[0].describe());
    }
    const std::int64_t pending = summary[0].as_integer();
    stats.pending += pending;
    if (pending > 0) {
      if (const auto ms = id_milliseconds(summary[1].as_string())) {
        oldest_id_ms = oldest_id_ms ? std::min(*oldest_id_ms, *ms) : *ms;
      }
    }

    // Redis' lag is entries added minus the group's entries-read counter,
    // which can be stale (XGROUP CREATE/SETID with a wrong ENTRIESREAD): a
    // group that has read up to the last id has nothing left, and a lag
    // beyond the stream's length cannot be true.
    const auto& stream_info = replies.at(2).as_array();
    const Reply* last_generated = find_field(stream_info, "last-generated-id");
    const Reply* length = find_field(stream_info, "length");
    std::optional<std::int64_t> stream_lag;
    for (const auto& group : replies.at(1).as_array()) {
      const auto& fields = group.as_array();
      const Reply* name = find_field(fields, "name");
      if (name == nullptr || name->as_string() != options_.group) {
        continue;
      }
      const Reply* last_delivered = find_field(fields, "last-delivered-id");
      const Reply* group_lag = find_field(fields, "lag");
      if (last_delivered != nullptr && last_generated != nullptr &&
          last_delivered->as_string() == last_generated->as_string()) {
        stream_lag = 0;
      } else if (group_lag != nullptr && !group_lag->is_nil() &&
                 (length == nullptr || group_lag->as_integer() <= length->as_integer())) {
        stream_lag = group_lag->as_integer();
      }
    }
    lag = (lag && stream_lag) ? std::optional<std::int64_t>(*lag + *stream_lag) : std::nullopt;
  }
  stats.lag = lag;

  if (oldest_id_ms) {
    const std::int64_t now_ms =
        detail::time_reply_ms(client_.execute({{"TIME"}, streams_now.front(), {}}));
    stats.oldest_pending_age = milliseconds(std::max<std::int64_t>(0, now_ms - *oldest_id_ms));
  }
  return stats;
}

std::vector<std::string> StreamConsumer::remove_idle_consumers(milliseconds min_idle) {
  if (min_idle < milliseconds::zero()) {
    throw InvalidArgument("stream consumer: minimum idle time must not be negative");
  }
  std::vector<std::string> removed;
  for (const auto& stream : streams()) {
    const Reply consumers =
        client_.execute({{"XINFO", "CONSUMERS", stream, options_.group}, stream, {}});
    for (const auto& consumer : consumers.as_array()) {
      const auto& fields = consumer.as_array();
      const Reply* name = find_field(fields, "name");
      const Reply* pending = find_field(fields, "pending");
      if (name == nullptr || pending == nullptr) {
        throw ProtocolError("stream consumer: unexpected XINFO CONSUMERS reply");
      }
      if (name->as_string() == options_.consumer || pending->as_integer() != 0) {
        continue;
      }
      const Reply deleted =
          client_.run_script({&detail::scripts::delete_idle_consumer,
                              {stream},
                              {options_.group, name->as_string(), milliseconds_text(min_idle)}});
      if (deleted.as_integer() == 1) {
        removed.push_back(name->as_string());
      }
    }
  }
  return removed;
}

}  // namespace flashsale
