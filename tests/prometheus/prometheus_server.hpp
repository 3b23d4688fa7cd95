// A private Prometheus server for one test: started on a free loopback port
// with its own temporary data directory and configuration, scraping the
// given targets every second; always stopped (and its directory removed) by
// the destructor. Prometheus comes from FLASHSALE_PROMETHEUS, else from PATH.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "redis_server.hpp"

namespace flashsale::testing {

// The prometheus executable, or nullopt when there is none.
inline std::optional<std::string> find_prometheus() {
  const char* configured = std::getenv("FLASHSALE_PROMETHEUS");
  if (configured != nullptr && *configured != '\0') {
    return ::access(configured, X_OK) == 0 ? std::optional<std::string>(configured) : std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::istringstream directories(path != nullptr ? path : "/usr/bin:/bin");
  std::string directory;
  while (std::getline(directories, directory, ':')) {
    const std::string candidate = directory + "/prometheus";
    if (!directory.empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

class PrometheusServer {
 public:
  PrometheusServer(const std::string& executable, const std::vector<std::string>& targets) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "flashsale-prometheus-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    directory_ = pattern;
    {
      std::ofstream config(directory_ + "/prometheus.yml");
      config << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
             << "scrape_configs:\n  - job_name: flashsale\n    static_configs:\n"
             << "      - targets: [";
      for (std::size_t index = 0; index < targets.size(); ++index) {
        config << (index == 0 ? "" : ", ") << "'" << targets[index] << "'";
      }
      config << "]\n";
    }
    for (int attempt = 0; attempt < 3 && pid_ < 0; ++attempt) {
      port_ = free_loopback_port();
      start(executable);
      if (!wait_until_ready()) {
        stop();
      }
    }
    if (pid_ < 0) {
      throw std::runtime_error("prometheus did not start; see " + directory_ + "/prometheus.log");
    }
  }

  ~PrometheusServer() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  int port() const noexcept { return port_; }

  // GET of `path` (with its query string) on the HTTP API; throws
  // std::runtime_error unless the answer is 200.
  std::string get(const std::string& path) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(10));
    const auto result = client.Get(path.c_str());
    if (!result || result->status != 200) {
      throw std::runtime_error(
          "prometheus GET " + path + " failed" +
          (result ? ": " + std::to_string(result->status) + " " + result->body : std::string()));
    }
    return result->body;
  }

  std::string log() const {
    std::ifstream file(directory_ + "/prometheus.log");
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

 private:
  void start(const std::string& executable) {
    const std::string config = "--config.file=" + directory_ + "/prometheus.yml";
    const std::string storage = "--storage.tsdb.path=" + directory_ + "/data";
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
    const std::string log_path = directory_ + "/prometheus.log";
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) {
      throw std::runtime_error("fork failed");
    }
    if (child == 0) {
      // Dies with the test process, so a crashed test leaves no server behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::freopen(log_path.c_str(), "a", stdout);
      std::freopen(log_path.c_str(), "a", stderr);
      ::execl(executable.c_str(), executable.c_str(), config.c_str(), storage.c_str(),
              listen.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    pid_ = child;
  }

  bool wait_until_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // exited: the port was taken, or the configuration is bad
        return false;
      }
      httplib::Client client("127.0.0.1", port_);
      client.set_connection_timeout(std::chrono::milliseconds(200));
      const auto result = client.Get("/-/ready");
      if (result && result->status == 200) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  void stop() {
    if (pid_ < 0) {
      return;
    }
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  std::string directory_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace flashsale::testing
