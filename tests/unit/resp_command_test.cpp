#include "transport/resp_command.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "flashsale/script.hpp"

using flashsale::detail::append_command;
using flashsale::detail::append_script_command;

TEST_CASE("a command is formatted as a RESP array of bulk strings", "[resp]") {
  std::string out = "kept:";
  append_command(out, {"SET", "key", ""});
  CHECK(out == "kept:*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n");
  // Binary bytes (CR, LF, NUL) travel as they are: the length frames them.
  out.clear();
  append_command(out, {"ECHO", std::string("a\r\n\0b", 5)});
  const char expected[] = "*2\r\n$4\r\nECHO\r\n$5\r\na\r\n\0b\r\n";
  CHECK(out == std::string(expected, sizeof expected - 1));
}

TEST_CASE("a script call is formatted as EVALSHA, or EVAL with its source", "[resp]") {
  const auto& script = flashsale::bundled_script("issue_coupon");
  const std::vector<std::string_view> keys{"k1", "k2"};
  const std::vector<std::string_view> arguments{"user:1", ""};
  const flashsale::ScriptCallView call{&script, keys, arguments};
  const std::string sha1(script.sha1);
  const std::string source(script.source);
  std::string out;
  append_script_command(out, call, false);
  CHECK(out == "*7\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha1 +
                   "\r\n$1\r\n2\r\n$2\r\nk1\r\n$2\r\nk2\r\n$6\r\nuser:1\r\n$0\r\n\r\n");
  out.clear();
  append_script_command(out, call, true);
  CHECK(out == "*7\r\n$4\r\nEVAL\r\n$" + std::to_string(script.source.size()) + "\r\n" + source +
                   "\r\n$1\r\n2\r\n$2\r\nk1\r\n$2\r\nk2\r\n$6\r\nuser:1\r\n$0\r\n\r\n");
  // No keys and no arguments: the key count 0 ends the command.
  out.clear();
  append_script_command(out, {&script, {}, {}}, false);
  CHECK(out == "*3\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha1 + "\r\n$1\r\n0\r\n");
}

TEST_CASE("a reused command buffer keeps small capacity and frees a large one", "[resp]") {
  std::string out(100, 'x');
  const auto small_capacity = out.capacity();
  flashsale::detail::reset_command_buffer(out);
  CHECK(out.empty());
  CHECK(out.capacity() == small_capacity);
  append_command(out, {"SET", "key", std::string(1 << 20, 'v')});  // a 1 MiB payload
  CHECK(out.size() > (1u << 20));
  flashsale::detail::reset_command_buffer(out);
  CHECK(out.empty());
  CHECK(out.capacity() < (1u << 20));
}

TEST_CASE("a send round is its entries' calls in entry order, then the WAIT", "[resp]") {
  const auto& script = flashsale::bundled_script("issue_coupon");
  const std::vector<std::string_view> first{"a"};
  const std::vector<std::string_view> second{"b"};
  const flashsale::ScriptCallView calls[] = {{&script, first, {}}, {&script, second, {}}};
  // The second call first, as EVAL (a NOSCRIPT retry), then the first.
  const flashsale::detail::RoundEntry entries[] = {{1, true}, {0, false}};
  const std::vector<std::string> wait{"WAIT", "1", "500"};
  std::string round;
  flashsale::detail::append_script_round(round, calls, entries, 2, &wait);
  std::string expected;
  append_script_command(expected, calls[1], true);
  append_script_command(expected, calls[0], false);
  append_command(expected, wait);
  CHECK(round == expected);
  round.clear();
  flashsale::detail::append_script_round(round, calls, entries + 1, 1, nullptr);
  expected.clear();
  append_script_command(expected, calls[0], false);
  CHECK(round == expected);
}
