// Starting the helper programs of tests/programs/ as child processes, for the
// tests that SIGKILL them (FLASHSALE_TEST_PROGRAM_DIR is where they are built).
#pragma once

#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace flashsale::testing {

// Starts tests/programs/<name> with `arguments`; returns its pid. Throws
// std::runtime_error when it cannot be started.
inline pid_t start_test_program(const std::string& name,
                                const std::vector<std::string>& arguments) {
  const std::string program = std::string(FLASHSALE_TEST_PROGRAM_DIR) + "/" + name;
  std::vector<std::string> words = {program};
  words.insert(words.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& word : words) {
    argv.push_back(word.data());
  }
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + program);
  }
  return pid;
}

// Waits for a started program to end; returns the raw waitpid status.
inline int wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace flashsale::testing
