#include "flashsale/log.hpp"

#include <cstdio>
#include <mutex>
#include <string>

namespace flashsale {

namespace {

std::mutex& sink_mutex() {
  static std::mutex mutex;
  return mutex;
}

LogSink& current_sink() {
  static LogSink sink;
  return sink;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Info:
      return "info";
    case LogLevel::Warning:
      return "warning";
    case LogLevel::Error:
      return "error";
  }
  return "log";
}

}  // namespace

void set_log_sink(LogSink sink) {
  const std::lock_guard<std::mutex> lock(sink_mutex());
  current_sink() = std::move(sink);
}

void log_message(LogLevel level, std::string_view message) {
  const std::lock_guard<std::mutex> lock(sink_mutex());
  if (current_sink()) {
    current_sink()(level, message);
    return;
  }
  std::fprintf(stderr, "flashsale %s: %.*s\n", level_name(level), static_cast<int>(message.size()),
               message.data());
}

}  // namespace flashsale
