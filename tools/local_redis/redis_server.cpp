#include "redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "flashsale/error.hpp"

namespace flashsale::testing {

namespace {

int server_major_version(const std::string& executable) {
  static int major = -1;
  if (major >= 0) {
    return major;
  }
  const std::string command = executable + " --version";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return major = 0;
  }
  char buffer[256] = {};
  const std::size_t read = std::fread(buffer, 1, sizeof(buffer) - 1, pipe);
  ::pclose(pipe);
  const std::string text(buffer, read);
  const auto at = text.find("v=");
  major = at == std::string::npos ? 0 : std::atoi(text.c_str() + at + 2);
  return major;
}

// A port the kernel had free a moment ago: bound to port 0 and released.
int kernel_assigned_port() {
  const int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) {
    throw std::runtime_error("socket() failed");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(socket_fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(socket_fd);
  return ntohs(address.sin_port);
}

// Locks `port` for the rest of this process's life; false when another
// process (or this one, through an earlier reservation) holds it. The lock's
// descriptor stays open on purpose, and close-on-exec keeps it out of the
// servers and workers the tests start.
bool reserve_for_this_process(int port) {
  const auto directory = std::filesystem::temp_directory_path() / "flashsale-ports";
  std::error_code ignored;
  std::filesystem::create_directories(directory, ignored);
  const std::string path = (directory / (std::to_string(port) + ".lock")).string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    throw std::runtime_error("cannot open the port reservation " + path);
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  return true;
}

}  // namespace

int free_loopback_port() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = kernel_assigned_port();
    if (reserve_for_this_process(port)) {
      return port;
    }
  }
  throw std::runtime_error("cannot find a free loopback port no other test process holds");
}

std::string redis_server_executable() {
  const char* configured = std::getenv("FLASHSALE_REDIS_SERVER");
  return configured != nullptr && *configured != '\0' ? configured : "redis-server";
}

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  if (options_.executable.empty()) {
    options_.executable = redis_server_executable();
  }
  std::string pattern =
      (std::filesystem::temp_directory_path() / "flashsale-redis-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  directory_ = pattern;
  constexpr int kAttempts = 5;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    port_ = free_loopback_port();
    start();
    if (wait_until_ready()) {
      return;
    }
    kill();
  }
  std::filesystem::remove_all(directory_);
  throw std::runtime_error("redis-server did not start; see its log in " + directory_);
}

RedisServer::~RedisServer() {
  admin_.reset();
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

ConnectionOptions RedisServer::connection_options() const {
  ConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = port_;
  options.password = options_.password;
  options.command_timeout = std::chrono::seconds(10);
  return options;
}

std::unique_ptr<StandaloneClient> RedisServer::make_client(std::size_t pool_size) const {
  PoolOptions pool;
  pool.size = pool_size;
  pool.wait_timeout = std::chrono::seconds(30);
  return std::make_unique<StandaloneClient>(connection_options(), pool);
}

StandaloneClient& RedisServer::admin() {
  if (!admin_) {
    admin_ = make_client(1);
  }
  return *admin_;
}

long long RedisServer::commands_processed() {
  const auto processed = info_number(admin(), "stats", "total_commands_processed:");
  if (!processed) {
    throw std::runtime_error("INFO stats has no total_commands_processed");
  }
  return static_cast<long long>(*processed);
}

std::optional<double> info_number(StandaloneClient& client, const std::string& section,
                                  const std::string& label) {
  return info_number(client.execute({{"INFO", section}, {}, {}}).as_string(), label);
}

std::optional<double> info_number(const std::string& info, const std::string& label) {
  const auto at = info.find(label);
  if (at == std::string::npos) {
    return std::nullopt;
  }
  return std::atof(info.c_str() + at + label.size());
}

std::string info_field(const std::string& info, const std::string& name) {
  const auto at = info.find(name + ":");
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + name.size() + 1;
  return info.substr(start, info.find_first_of("\r\n", start) - start);
}

long long replicas_that_received(StandaloneClient& master, std::vector<Command> writes,
                                 std::size_t replicas) {
  writes.push_back({{"WAIT", std::to_string(replicas), "100"}, {}, {}});
  return master.execute_pipeline(writes).back().as_integer();
}

void RedisServer::write_config() const {
  std::ofstream config(directory_ + "/redis.conf");
  config << "port " << port_ << "\n"
         << "bind 127.0.0.1\n"
         << "dir " << directory_ << "\n"
         << "logfile " << directory_ << "/redis.log\n"
         << "save \"\"\n"
         << "appendonly no\n"
         << "daemonize no\n"
         << "maxmemory-policy noeviction\n";
  if (server_major_version(options_.executable) >= 7) {
    config << "enable-debug-command local\n";
  }
  for (const auto& line : options_.config_lines) {
    config << line << "\n";
  }
}

void RedisServer::start() {
  write_config();
  const std::string config_path = directory_ + "/redis.conf";
  // The child would otherwise write the parent's unflushed output again.
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) {
    throw std::runtime_error("fork failed");
  }
  if (child == 0) {
    // Dies with the test process, so a crashed test leaves no server behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::freopen("/dev/null", "w", stdout);
    std::vector<char*> argv{const_cast<char*>(options_.executable.c_str()),
                            const_cast<char*>(config_path.c_str())};
    for (const auto& argument : options_.arguments) {
      argv.push_back(const_cast<char*>(argument.c_str()));
    }
    argv.push_back(nullptr);
    ::execvp(options_.executable.c_str(), argv.data());
    std::_Exit(127);
  }
  pid_ = child;
}

bool RedisServer::wait_until_ready() {
  ConnectionOptions options = connection_options();
  options.connect_timeout = std::chrono::milliseconds(200);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;  // exited: the port was taken, or the configuration is bad
      return false;
    }
    try {
      StandaloneClient probe(options, PoolOptions{1, std::chrono::milliseconds(200)});
      probe.execute({{"PING"}, {}, {}});  // LOADING until the data is in
      // Ours, not a server of another process that holds the port while
      // ours fails to bind it (ours then exits, seen above).
      const auto process = info_number(probe, "server", "process_id:");
      if (process && static_cast<pid_t>(*process) == pid_) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } catch (const ReplyError& error) {
      if (error.code() != "LOADING") {
        return true;  // answering, only refusing us (e.g. NOAUTH)
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } catch (const Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return false;
}

void RedisServer::stop() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill();
}

void RedisServer::kill() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::restart() {
  stop();
  for (int attempt = 0; attempt < 50; ++attempt) {
    start();
    if (wait_until_ready()) {
      return;
    }
    kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
}

}  // namespace flashsale::testing
