// Plain option structs for connecting to Redis. Durations are std::chrono;
// a zero duration means "no limit".
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "flashsale/durability.hpp"

namespace flashsale {

// What a client does when the server would lose acknowledged writes on a
// restart (see check_persistence in preflight.hpp): the server runs without
// AOF (`appendonly no`), so a restart or crash brings back only the last RDB
// snapshot, if any. Checked once per client, the first time the client reads
// INFO (every component does when constructed).
enum class PersistenceCheck {
  Warn,    // log one warning per client and go on (the default)
  Refuse,  // server_info() throws ConfigurationError (so does every component constructor)
  Skip,    // do not look
};

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
  // Longest wait for the server, for each read or write of one call; zero
  // waits forever. A call that exceeds it raises TimeoutError ("timed out
  // after N ms") and its connection is discarded.
  //
  // What it bounds: each wait for the socket (SO_RCVTIMEO/SO_SNDTIMEO), not
  // the whole call. A large reply that keeps arriving in pieces may take
  // longer in total, and a pipeline waits up to this long for each reply.
  // The kernel rounds a socket timeout up to its timer tick and wakes the
  // waiter on a later tick, so a timeout surfaces a few ticks late: on the
  // development machine (median of 20 waits on an idle socket) 1-2 ms
  // surfaced after 8 ms (16 ms at worst), 5 ms after 16 ms, 20 ms after
  // 24 ms. Timeouts of a few ms are "fail fast", not a precise limit.
  std::chrono::milliseconds command_timeout{1000};
  // How long one call keeps re-sending the commands the server refused while
  // in a passing state: LOADING (a restart reading its data back), MASTERDOWN
  // (a replica that lost its master), TRYAGAIN. The server did not run them,
  // so this is safe for every command; refused entries of a pipeline are sent
  // again, in their order, after the others (backoff 10 to 250 ms). Zero: no
  // retry, the refusal surfaces at once (ReplyError, or the error reply in
  // place in a pipeline). Measured from the start of the call: one call can
  // take up to the budget plus one command timeout. Used by StandaloneClient
  // (not by its PinnedConnection) and SentinelClient; ClusterClient retries
  // these within ClusterClientOptions::retry_budget instead.
  std::chrono::milliseconds transient_retry_budget{5000};
  // See PersistenceCheck.
  PersistenceCheck persistence_check = PersistenceCheck::Warn;
  // Opt-in WAIT after every state-changing script (durability.hpp).
  DurabilityOptions durability;
  // Opt-in transport metrics (metrics.hpp): when set, every client built
  // with these options records its calls, errors, pool use, reconnects,
  // NOSCRIPT fallbacks and cluster redirects there (README "Metrics" lists
  // the names). Null (the default): nothing is recorded and nothing is paid
  // beyond one branch per call. Several clients may share one registry;
  // their figures add up (series carry a `node` label, not a client name).
  std::shared_ptr<MetricsRegistry> metrics;
};

// ConnectionOptions from a URL, the form hosts put in their configuration:
//
//   redis://[[user]:password@]host[:port][/db][?option=value&...]
//   unix://[[user]:password@]/path/to/redis.sock[?db=N&...]
//
// host may be a name, an IPv4 address or an IPv6 address in brackets
// ("redis://[::1]:6380"); port defaults to 6379, db to 0 (the path "/2" or
// ?db=2). user and password are percent-decoded ("%40" is "@"); a password
// alone ("redis://:secret@host") authenticates the default user. Options:
// db, connect_timeout_ms, command_timeout_ms (0: no limit); anything not
// given keeps the default of ConnectionOptions.
//
// TLS: "rediss://" is recognised and refused with ConfigurationError. The
// transport speaks plain TCP only: hiredis 0.14 (Debian 12) has no TLS at
// all; hiredis 1.x ships TLS in the separate hiredis_ssl library
// (redisInitOpenSSLContext: CA file or directory, client certificate and
// key, SNI server name; no certificate revocation checks, no ALPN), which
// flashsale does not link yet. Use a TLS tunnel (stunnel, a sidecar) to
// reach a TLS-only server meanwhile.
//
// Throws InvalidArgument for anything malformed (unknown scheme or option,
// bad port, db or number, bad percent escape), naming the part; nothing is
// connected.
ConnectionOptions connection_options_from_url(std::string_view url);

// A pooled connection that sat idle for more than 1 ms is checked before it
// is handed out (one non-blocking recv, nothing sent), so one the server
// closed meanwhile (a restart, its `timeout`) is replaced invisibly; one that
// answered within the last millisecond is handed out unchecked, which saves
// a syscall per call under load.
struct PoolOptions {
  // Most connections open at once. Each calling thread holds one connection
  // for the duration of one call; a thread that finds all `size` lent out
  // sleeps until one comes back. Connections open on first need, so a host
  // that calls from 4 threads opens 4 whatever the size. The default, 64,
  // covers the thread counts measured (1, 8, 32) without queueing: with 32
  // threads, a pool of 8 (the default before) cost 16.8 us of client CPU per
  // issue() against 11.0 us with one connection per thread, and a raw
  // hiredis loop 10.5 us (coupon_ceiling_bench, README "Benchmarks"). Set it
  // to the number of calling threads when more call at once; lower it when
  // the server's maxclients (10,000 by default) must be shared by many
  // processes.
  std::size_t size = 64;
  // Longest wait for a free connection before TimeoutError; zero waits forever.
  std::chrono::milliseconds wait_timeout{1000};
  // Auto-pipelining. When not zero, calls do not borrow a connection: they
  // go over one of this many connections shared by all threads (round
  // robin). A call's commands are written at once, even while earlier
  // callers' replies are still on their way back (one caller's pipeline
  // stays contiguous), and each caller blocks for its own replies, read in
  // order by whichever waiting caller holds the reading turn. Many threads
  // then cost Redis one read per burst of calls instead of one per call,
  // and the server never waits for the client between bursts. pin() and
  // commands with their own Command::timeout still borrow from the pool of
  // `size`.
  // In this mode:
  // - a transport failure or timeout fails every call whose reply is
  //   outstanding on that connection (their outcome is unknown), and the
  //   next call opens a new connection;
  // - command_timeout bounds each wait for the next bytes of a reply (and
  //   each write), not a whole call: a call behind a slow one waits for it;
  // - a slow command delays the calls written behind it, so a blocking
  //   command (BLPOP, XREADGROUP BLOCK) must carry its own Command::timeout;
  // - commands that change connection state (SELECT, CLIENT SETNAME, WATCH,
  //   SUBSCRIBE, MULTI without its EXEC in the same pipeline) would affect
  //   every caller: send them through pin().
  // Zero (the default): every call borrows a connection. StandaloneClient
  // only: a ClusterClient refuses it (InvalidArgument).
  // Off by default although it measured fastest with many threads (8
  // threads on 2 shared connections: 1.01-1.24x redis-benchmark -c 8 in five
  // runs, against 0.91-1.01x with the default pool; README "Benchmarks"):
  // it widens what one failure takes with it from one call to every call
  // outstanding on the connection, and a WAIT (durability) or a slow script
  // holds up every caller written behind it. A host turns it on knowing both.
  std::size_t shared_connections = 0;
};

}  // namespace flashsale
