// A private redis-server for one test: started on a free loopback port in a
// temporary directory, always stopped (and its directory removed) by the
// destructor. Tests never touch a server they did not start.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flashsale/connection_options.hpp"
#include "flashsale/standalone_client.hpp"

namespace flashsale::testing {

// A loopback TCP port that was free a moment ago (bound to port 0 and
// released) and that no other test process holds: each port handed out is
// reserved for the life of the calling process (an flock on
// <temp>/flashsale-ports/<port>.lock, released when it exits), so a server
// stopped for a restart cannot lose its port to a server another test
// process starts meanwhile (CTest runs tests side by side). Throws
// std::runtime_error when none can be found.
int free_loopback_port();

struct RedisServerOptions {
  // Extra redis.conf lines, e.g. "requirepass secret" or "user app on >pw ~fs:* +@all".
  std::vector<std::string> config_lines;
  // The executable: FLASHSALE_REDIS_SERVER, else redis-server from PATH.
  std::string executable;
  // The password of the default user, when config_lines set requirepass; used
  // by connection_options() and admin().
  std::string password;
  // Extra command-line arguments after the config file, e.g. {"--sentinel"}.
  std::vector<std::string> arguments;
};

// Not thread-safe; owned by the test's main thread.
class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const noexcept { return port_; }
  // "127.0.0.1:<port>", as clients, sentinels and metrics labels name the node.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const noexcept { return pid_; }
  const std::string& directory() const noexcept { return directory_; }
  bool running() const noexcept { return pid_ > 0; }

  // Options for connecting to this server (no password).
  ConnectionOptions connection_options() const;
  // A pooled client for this server, with `pool_size` connections.
  std::unique_ptr<StandaloneClient> make_client(std::size_t pool_size = 8) const;
  // An unpooled administrative client, for setup and inspection in tests.
  StandaloneClient& admin();

  // total_commands_processed of INFO stats. The INFO it sends counts too, so
  // two calls with nothing sent in between differ by exactly 1: the way to
  // show that bad input sent nothing.
  long long commands_processed();

  // Graceful stop (SIGTERM, then SIGKILL after 5 s).
  void stop();
  // SIGKILL, as a crash would.
  void kill();
  // Starts again on the same port with the same configuration; the data is
  // gone (persistence is off), like a restart after a crash without AOF.
  void restart();

 private:
  void start();
  bool wait_until_ready();
  void write_config() const;

  RedisServerOptions options_;
  std::string directory_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<StandaloneClient> admin_;
};

// FLASHSALE_REDIS_SERVER when set, else "redis-server" (looked up in PATH).
std::string redis_server_executable();

// The number right after `label` in INFO `section`, e.g. ("stats",
// "total_connections_received:") or ("commandstats", "cmdstat_asking:calls=");
// nullopt when the server does not report it (INFO leaves out counters
// that were never touched).
std::optional<double> info_number(StandaloneClient& client, const std::string& section,
                                  const std::string& label);
// The same, read from INFO text already fetched (several labels, one call).
std::optional<double> info_number(const std::string& info, const std::string& label);
// The text after "name:" on its line of INFO text, e.g. ("role") -> "master";
// empty when the server does not report it.
std::string info_field(const std::string& info, const std::string& name);

// How many of `replicas` replicas received `writes` sent now to `master`:
// the writes, then WAIT <replicas> 100 ms, pipelined on one connection.
// Online at the master's offset is not proof that a replica gets writes:
// after a diskless sync the master may stream nothing to it for up to a
// second (until its next REPLCONF ACK); only a write WAITed for is.
long long replicas_that_received(StandaloneClient& master, std::vector<Command> writes,
                                 std::size_t replicas);

}  // namespace flashsale::testing
