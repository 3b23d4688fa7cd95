// Where the library's few warnings go. By default: standard error.
#pragma once

#include <functional>
#include <string_view>

#include "flashsale/export.hpp"

namespace flashsale {

enum class LogLevel { Info, Warning, Error };

using LogSink = std::function<void(LogLevel, std::string_view message)>;

// Replaces the sink; an empty function restores the default. Thread-safe.
FLASHSALE_EXPORT void set_log_sink(LogSink sink);

// Sends one message to the current sink. Thread-safe.
FLASHSALE_EXPORT void log_message(LogLevel level, std::string_view message);

}  // namespace flashsale
