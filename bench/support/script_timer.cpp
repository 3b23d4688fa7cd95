#include "script_timer.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

#include "bench_server.hpp"

namespace bench {

namespace {
constexpr const char* kSlowlogLength = "400000";
}  // namespace

ScriptTimer::ScriptTimer(const BenchServer& server) : client_(server.make_client(1)) {
  threshold_ = config_get("slowlog-log-slower-than");
  length_ = config_get("slowlog-max-len");
  client_->execute({{"CONFIG", "SET", "slowlog-log-slower-than", "0"}, {}, {}});
  client_->execute({{"CONFIG", "SET", "slowlog-max-len", kSlowlogLength}, {}, {}});
}

ScriptTimer::~ScriptTimer() {
  try {
    client_->execute({{"CONFIG", "SET", "slowlog-log-slower-than", threshold_}, {}, {}});
    client_->execute({{"CONFIG", "SET", "slowlog-max-len", length_}, {}, {}});
    client_->execute({{"SLOWLOG", "RESET"}, {}, {}});
  } catch (const std::exception& error) {
    std::fprintf(stderr, "ScriptTimer: could not restore the slowlog settings: %s\n", error.what());
  }
}

std::vector<long long> ScriptTimer::time(const flashsale::Script& script,
                                         const std::function<void()>& operation) {
  using namespace std::chrono_literals;
  std::vector<long long> durations;
  drain(script, nullptr);  // forget what came before
  std::atomic<bool> done{false};
  std::exception_ptr drain_error;
  std::thread drainer([&] {
    try {
      while (!done.load()) {
        drain(script, &durations);
        std::this_thread::sleep_for(200us);
      }
    } catch (...) {
      drain_error = std::current_exception();
    }
  });
  try {
    operation();
  } catch (...) {
    done = true;
    drainer.join();
    throw;
  }
  done = true;
  drainer.join();
  if (drain_error) {
    std::rethrow_exception(drain_error);
  }
  drain(script, &durations);
  return durations;
}

void ScriptTimer::drain(const flashsale::Script& script, std::vector<long long>* durations) {
  const auto replies = client_->execute_pipeline({{{"MULTI"}, {}, {}},
                                                  {{"SLOWLOG", "GET", kSlowlogLength}, {}, {}},
                                                  {{"SLOWLOG", "RESET"}, {}, {}},
                                                  {{"EXEC"}, {}, {}}});
  if (durations == nullptr) {
    return;
  }
  const std::string source_start(script.source.substr(0, 64));
  for (const auto& entry : replies.back().as_array().at(0).as_array()) {
    const auto& fields = entry.as_array();
    const auto& arguments = fields.at(3).as_array();
    if (arguments.size() < 2) {
      continue;
    }
    std::string command = arguments[0].as_string();
    std::transform(command.begin(), command.end(), command.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    const std::string first = arguments[1].as_string();
    const bool by_sha = command == "EVALSHA" && first == script.sha1;
    const bool by_source = command == "EVAL" && first.rfind(source_start, 0) == 0;
    if (by_sha || by_source) {
      durations->push_back(fields.at(2).as_integer());
    }
  }
}

std::string ScriptTimer::config_get(const char* name) {
  const auto reply = client_->execute({{"CONFIG", "GET", name}, {}, {}});
  return reply.as_array().at(1).as_string();
}

}  // namespace bench
