// Starts tests/programs/stream_consumer_worker as a child process, for the
// StreamConsumer tests that SIGKILL consumers.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <string>
#include <utility>
#include <vector>

#include "test_program.hpp"

namespace flashsale::testing {

struct StreamWorkerSettings {
  int port = 0;
  std::string stream;
  std::string group;
  std::string handled_set;
  std::string count_key;
  int batch_size = 50;
  int claim_idle_ms = 1000;
  int claim_interval_ms = 200;
  int block_ms = 500;
  // Run a batch handler (see tests/programs/stream_consumer_worker.cpp).
  bool batch = false;
};

// A running worker; not copyable. The destructor SIGKILLs and reaps it when
// the test did not.
class StreamWorkerProcess {
 public:
  StreamWorkerProcess(const StreamWorkerSettings& settings, std::string consumer)
      : consumer_(std::move(consumer)) {
    pid_ = start_test_program(
        "stream_consumer_worker",
        {std::to_string(settings.port), settings.stream, settings.group, consumer_,
         settings.handled_set, settings.count_key, std::to_string(settings.batch_size),
         std::to_string(settings.claim_idle_ms), std::to_string(settings.claim_interval_ms),
         std::to_string(settings.block_ms), settings.batch ? "batch" : "single"});
  }
  StreamWorkerProcess(const StreamWorkerProcess&) = delete;
  StreamWorkerProcess& operator=(const StreamWorkerProcess&) = delete;
  ~StreamWorkerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

  const std::string& consumer() const noexcept { return consumer_; }

  // SIGKILL, as a crash would; returns when the process is gone.
  void kill() {
    ::kill(pid_, SIGKILL);
    wait();
  }
  // SIGTERM (the worker stops its consumer); returns the exit status.
  int terminate() {
    ::kill(pid_, SIGTERM);
    return wait();
  }
  // Waits for the process to end by itself; returns its exit status
  // (128 + signal number when a signal ended it).
  int wait() {
    const int status = wait_for_exit(pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  std::string consumer_;
  pid_t pid_ = -1;
};

}  // namespace flashsale::testing
