// The test support's own guarantees (tools/local_redis): a port handed out
// stays this process's, and a restarted server is the test's own, never a
// server of another process that took its port meanwhile.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "flashsale/error.hpp"
#include "flashsale/standalone_client.hpp"
#include "redis_server.hpp"

using flashsale::testing::RedisServer;

namespace {

std::string reservation_path(int port) {
  return (std::filesystem::temp_directory_path() / "flashsale-ports" /
          (std::to_string(port) + ".lock"))
      .string();
}

// A redis-server on `port` that no RedisServer owns: what another test
// process's server looks like. Killed (and reaped) when this goes.
class ForeignServer {
 public:
  explicit ForeignServer(int port) {
    const std::string executable = flashsale::testing::redis_server_executable();
    const std::string port_text = std::to_string(port);
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::freopen("/dev/null", "w", stdout);
      std::vector<const char*> argv{
          executable.c_str(), "--port", port_text.c_str(), "--bind", "127.0.0.1",
          "--save",           "",       "--appendonly",    "no",     nullptr};
      ::execvp(executable.c_str(), const_cast<char* const*>(argv.data()));
      std::_Exit(127);
    }
  }
  ~ForeignServer() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  ForeignServer(const ForeignServer&) = delete;
  ForeignServer& operator=(const ForeignServer&) = delete;

  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("a port handed out is reserved for this process until it exits", "[local_redis]") {
  const int first = flashsale::testing::free_loopback_port();
  const int second = flashsale::testing::free_loopback_port();
  CHECK(first != second);
  for (const int port : {first, second}) {
    // Another open file description (another process, or this one) cannot
    // take the lock the reservation holds.
    const int fd = ::open(reservation_path(port).c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::flock(fd, LOCK_EX | LOCK_NB) != 0);
    CHECK(errno == EWOULDBLOCK);
    ::close(fd);
  }
}

TEST_CASE("a restart never adopts another process's server that took the port", "[local_redis]") {
  RedisServer server;
  const int port = server.port();
  server.kill();
  const ForeignServer foreign(port);
  flashsale::ConnectionOptions options = server.connection_options();
  options.connect_timeout = std::chrono::milliseconds(200);
  bool answering = false;
  for (int attempt = 0; attempt < 200 && !answering; ++attempt) {
    try {
      flashsale::StandaloneClient probe(options, flashsale::PoolOptions{1});
      answering = probe.execute({{"PING"}, {}, {}}).as_string() == "PONG";
    } catch (const flashsale::Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  REQUIRE(answering);
  // The port answers PING, but with another process id: the restart keeps
  // trying and then says so, instead of handing the test a stranger.
  CHECK_THROWS_AS(server.restart(), std::runtime_error);
  CHECK_FALSE(server.running());
  flashsale::StandaloneClient probe(options, flashsale::PoolOptions{1});
  const auto process = flashsale::testing::info_number(probe, "server", "process_id:");
  REQUIRE(process.has_value());
  CHECK(static_cast<pid_t>(*process) == foreign.pid());
}
