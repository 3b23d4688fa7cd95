#include "transport/shared_connection.hpp"

#include "transport/transport_metrics.hpp"

namespace flashsale::detail {

struct SharedConnection::Call {
  const std::vector<const std::vector<std::string>*>* commands = nullptr;
  std::vector<Reply> replies;
  std::exception_ptr error;
  bool done = false;
  bool leads = false;
  std::condition_variable wake;
};

SharedConnection::SharedConnection(ConnectionOptions options) : options_(std::move(options)) {}

SharedConnection::~SharedConnection() = default;

std::vector<Reply> SharedConnection::execute_pipeline(
    const std::vector<const std::vector<std::string>*>& commands) {
  Call call;
  call.commands = &commands;
  std::unique_lock<std::mutex> lock(mutex_);
  queued_.push_back(&call);
  if (!batch_in_flight_) {
    batch_in_flight_ = true;
    call.leads = true;
  } else {
    call.wake.wait(lock, [&call] { return call.done || call.leads; });
  }
  if (!call.done) {
    lead(lock);
  }
  if (call.error) {
    std::rethrow_exception(call.error);
  }
  return std::move(call.replies);
}

// Called with the lock held and batch_in_flight_ set; returns with the lock
// held, every call of the batch done, and leadership passed on or released.
void SharedConnection::lead(std::unique_lock<std::mutex>& lock) {
  const std::vector<Call*> batch(queued_.begin(), queued_.end());
  queued_.clear();
  lock.unlock();
  std::exception_ptr error;
  try {
    send_batch(batch);
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  for (Call* call : batch) {
    call->done = true;
    call->error = error;
    // Notified under the lock: the waiter cannot return (and destroy its
    // Call) before the lock is released.
    call->wake.notify_one();
  }
  if (queued_.empty()) {
    batch_in_flight_ = false;
  } else {
    queued_.front()->leads = true;
    queued_.front()->wake.notify_one();
  }
}

void SharedConnection::send_batch(const std::vector<Call*>& batch) {
  // A failed batch already dropped its connection (below); an idle one may
  // have been closed by the server since.
  if (connection_ && connection_->closed_by_server()) {
    count_connection_dropped(options_, "closed_by_server");
    connection_.reset();
  }
  if (!connection_) {
    connection_ = std::make_unique<Connection>(options_);
  }
  std::vector<const std::vector<std::string>*> commands;
  for (const Call* call : batch) {
    commands.insert(commands.end(), call->commands->begin(), call->commands->end());
  }
  std::vector<Reply> replies;
  try {
    replies = connection_->execute_pipeline(commands, std::chrono::milliseconds{0});
  } catch (...) {
    connection_.reset();
    throw;
  }
  auto next = replies.begin();
  for (Call* call : batch) {
    const auto count = static_cast<std::ptrdiff_t>(call->commands->size());
    call->replies.assign(std::make_move_iterator(next), std::make_move_iterator(next + count));
    next += count;
  }
}

}  // namespace flashsale::detail
