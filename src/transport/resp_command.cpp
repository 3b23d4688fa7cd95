#include "transport/resp_command.hpp"

#include <charconv>
#include <cstddef>
#include <iterator>
#include <string_view>

namespace flashsale::detail {

namespace {

// "\r\n" closing the previous bulk string (when `close`), then the header
// `<prefix><number>\r\n`, appended in one piece.
void append_header(std::string& out, bool close, char prefix, std::size_t number) {
  char header[32];
  char* at = header;
  if (close) {
    *at++ = '\r';
    *at++ = '\n';
  }
  *at++ = prefix;
  at = std::to_chars(at, std::end(header), number).ptr;
  *at++ = '\r';
  *at++ = '\n';
  out.append(header, static_cast<std::size_t>(at - header));
}

// What a command adds beyond its arguments' bytes: the array header and
// each bulk string's header and terminator (at most 25 bytes each).
std::size_t framing_bound(std::size_t count) {
  return 24 + 25 * count;
}

void append_bulk(std::string& out, bool close, std::string_view argument) {
  append_header(out, close, '$', argument.size());
  out.append(argument.data(), argument.size());
}

}  // namespace

void append_command(std::string& out, const std::vector<std::string>& arguments) {
  std::size_t bytes = framing_bound(arguments.size());
  for (const auto& argument : arguments) {
    bytes += argument.size();
  }
  out.reserve(out.size() + bytes);
  append_header(out, false, '*', arguments.size());
  bool close = false;
  for (const auto& argument : arguments) {
    append_bulk(out, close, argument);
    close = true;
  }
  out.append("\r\n", close ? 2 : 0);
}

void append_script_command(std::string& out, const ScriptCallView& call, bool eval) {
  const std::string_view script = eval ? call.script->source : call.script->sha1;
  const std::size_t count = 3 + call.keys.size() + call.arguments.size();
  std::size_t bytes = framing_bound(count) + script.size();
  for (const auto key : call.keys) {
    bytes += key.size();
  }
  for (const auto argument : call.arguments) {
    bytes += argument.size();
  }
  out.reserve(out.size() + bytes);
  append_header(out, false, '*', count);
  append_bulk(out, false, eval ? std::string_view("EVAL") : std::string_view("EVALSHA"));
  append_bulk(out, true, script);
  char key_count[24];
  const auto written = std::to_chars(std::begin(key_count), std::end(key_count), call.keys.size());
  append_bulk(out, true, {key_count, static_cast<std::size_t>(written.ptr - key_count)});
  for (const auto key : call.keys) {
    append_bulk(out, true, key);
  }
  for (const auto argument : call.arguments) {
    append_bulk(out, true, argument);
  }
  out.append("\r\n", 2);
}

void append_script_round(std::string& out, const ScriptCallView* calls, const RoundEntry* entries,
                         std::size_t count, const std::vector<std::string>* wait) {
  for (std::size_t position = 0; position < count; ++position) {
    append_script_command(out, calls[entries[position].index], entries[position].eval);
  }
  if (wait != nullptr) {
    append_command(out, *wait);
  }
}

void reset_command_buffer(std::string& out) {
  constexpr std::size_t kKeptCapacity = 64 * 1024;
  if (out.capacity() > kKeptCapacity) {
    std::string().swap(out);
  } else {
    out.clear();
  }
}

}  // namespace flashsale::detail
