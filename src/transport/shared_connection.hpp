// One connection that concurrent callers share, their commands written
// together (auto-pipelining): private to the transport layer.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "flashsale/connection_options.hpp"
#include "flashsale/reply.hpp"
#include "transport/connection.hpp"

namespace flashsale::detail {

// Thread-safe. A caller queues its commands; the first caller to find no
// batch in flight becomes the leader: it takes everything queued, writes it
// in one pipeline, reads the replies in order, hands each caller its own, and
// passes leadership to the oldest caller that queued meanwhile. So while one
// batch is on the wire the next one gathers, and N callers cost the server
// one read instead of N.
//
// A transport failure or timeout fails every call of the batch it was in with
// that error (their outcome is unknown) and the connection is replaced on the
// next batch. An idle connection the server closed (a restart) is detected
// before a batch is written, as the pool does.
class SharedConnection {
 public:
  explicit SharedConnection(ConnectionOptions options);
  ~SharedConnection();
  SharedConnection(const SharedConnection&) = delete;
  SharedConnection& operator=(const SharedConnection&) = delete;

  // Replies to `commands`, in order; error replies are returned, not thrown.
  // The commands are written back to back, never interleaved with another
  // caller's. Throws ConnectionError / TimeoutError / ProtocolError, and
  // ReplyError when a new connection's AUTH or SELECT is refused.
  std::vector<Reply> execute_pipeline(const std::vector<const std::vector<std::string>*>& commands);

 private:
  struct Call;

  void lead(std::unique_lock<std::mutex>& lock);
  void send_batch(const std::vector<Call*>& batch);

  const ConnectionOptions options_;
  std::mutex mutex_;
  std::deque<Call*> queued_;
  bool batch_in_flight_ = false;
  std::unique_ptr<Connection> connection_;  // touched only by the leader
};

}  // namespace flashsale::detail
