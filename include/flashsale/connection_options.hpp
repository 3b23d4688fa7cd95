// Plain option structs for connecting to Redis. Durations are std::chrono;
// a zero duration means "no limit".
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace flashsale {

class MetricsRegistry;

struct ConnectionOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // When not empty, connect to this unix socket instead of host:port.
  std::string unix_socket;
  // ACL user name; empty authenticates the default user with `password`.
  std::string user;
  // Empty sends no AUTH.
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{1000};
  // Longest wait for one reply; zero waits forever. A command that exceeds
  // it raises TimeoutError and its connection is discarded.
  std::chrono::milliseconds command_timeout{1000};
  // Opt-in transport metrics (metrics.hpp): when set, every client built
  // with these options records its calls, errors, pool use, reconnects,
  // NOSCRIPT fallbacks and cluster redirects there (README "Metrics" lists
  // the names). Null (the default): nothing is recorded and nothing is paid
  // beyond one branch per call. Several clients may share one registry;
  // their figures add up (series carry a `node` label, not a client name).
  std::shared_ptr<MetricsRegistry> metrics;
};

struct PoolOptions {
  // Most connections open at once. Each calling thread holds one connection
  // for the duration of one call, so size it to the number of threads.
  std::size_t size = 8;
  // Longest wait for a free connection before TimeoutError; zero waits forever.
  std::chrono::milliseconds wait_timeout{1000};
  // Auto-pipelining. When not zero, calls do not borrow a connection: they
  // queue on one of this many connections shared by all threads, and what
  // queued while the previous batch was on the wire is written together as
  // one pipeline, each caller still blocking for its own replies (in order;
  // one caller's pipeline stays contiguous). Many threads then cost Redis one
  // read per batch instead of one per call. pin() and commands with their
  // own Command::timeout still borrow from the pool of `size`.
  // In this mode:
  // - a transport failure or timeout fails every call of its batch;
  // - command_timeout bounds one batch's reads, so a call queued behind a
  //   batch in flight can wait up to about twice that;
  // - a slow command delays the calls queued behind it, so a blocking
  //   command (BLPOP, XREADGROUP BLOCK) must carry its own Command::timeout;
  // - commands that change connection state (SELECT, CLIENT SETNAME, WATCH,
  //   SUBSCRIBE, MULTI without its EXEC in the same pipeline) would affect
  //   every caller: send them through pin().
  // Zero (the default): every call borrows a connection. StandaloneClient
  // only: a ClusterClient refuses it (InvalidArgument).
  std::size_t shared_connections = 0;
};

}  // namespace flashsale
