#include <charconv>
#include <limits>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "flashsale/connection_options.hpp"
#include "flashsale/error.hpp"

namespace flashsale {

namespace {

[[noreturn]] void malformed(std::string_view what) {
  throw InvalidArgument(fmt::format("connection URL: {}", what));
}

long long parse_number(std::string_view text, std::string_view name, long long max) {
  long long value = 0;
  const auto* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || value < 0 || value > max) {
    malformed(fmt::format("{} must be a number from 0 to {}, got \"{}\"", name, max, text));
  }
  return value;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string percent_decode(std::string_view text, std::string_view name) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size() || hex_digit(text[i + 1]) < 0 || hex_digit(text[i + 2]) < 0) {
      malformed(fmt::format("bad percent escape in the {}", name));
    }
    decoded.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
    i += 2;
  }
  return decoded;
}

void apply_query(std::string_view query, ConnectionOptions& options) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) {
      malformed(fmt::format("option \"{}\" has no value", pair));
    }
    const std::string_view name = pair.substr(0, equals);
    const std::string_view value = pair.substr(equals + 1);
    constexpr long long kMaxMs = std::numeric_limits<int>::max();
    if (name == "db") {
      options.db = static_cast<int>(parse_number(value, "db", std::numeric_limits<int>::max()));
    } else if (name == "connect_timeout_ms") {
      options.connect_timeout = std::chrono::milliseconds(parse_number(value, name, kMaxMs));
    } else if (name == "command_timeout_ms") {
      options.command_timeout = std::chrono::milliseconds(parse_number(value, name, kMaxMs));
    } else {
      malformed(fmt::format("unknown option \"{}\"", name));
    }
  }
}

}  // namespace

ConnectionOptions connection_options_from_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    malformed("expected redis://, rediss:// or unix://");
  }
  const std::string_view scheme = url.substr(0, scheme_end);
  if (scheme == "rediss") {
    throw ConfigurationError(
        "connection URL: rediss:// needs TLS, which this build's transport does not speak "
        "(plain TCP only; see connection_options.hpp)");
  }
  if (scheme != "redis" && scheme != "unix") {
    malformed(fmt::format("unknown scheme \"{}\"", scheme));
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view query;
  if (const auto question = rest.find('?'); question != std::string_view::npos) {
    query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  ConnectionOptions options;
  // Credentials: everything before the last '@' of the authority (a raw '@'
  // in a password must be written %40).
  const auto authority_end = rest.find('/');
  const std::string_view authority = rest.substr(0, authority_end);
  std::string_view path =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  std::string_view host_port = authority;
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = authority.substr(0, at);
    host_port = authority.substr(at + 1);
    const auto colon = credentials.find(':');
    if (colon == std::string_view::npos) {
      // "redis://user@host": a user without a password.
      options.user = percent_decode(credentials, "user");
    } else {
      options.user = percent_decode(credentials.substr(0, colon), "user");
      options.password = percent_decode(credentials.substr(colon + 1), "password");
    }
  }
  if (scheme == "unix") {
    if (!host_port.empty()) {
      malformed("unix:// takes no host: write unix:///path/to/redis.sock");
    }
    if (path.size() < 2) {
      malformed("unix:// needs a socket path");
    }
    options.unix_socket = std::string(path);
    apply_query(query, options);
    return options;
  }
  if (!host_port.empty()) {
    std::string_view port_text;
    if (host_port.front() == '[') {
      const auto close = host_port.find(']');
      if (close == std::string_view::npos) {
        malformed("unclosed '[' in the host");
      }
      options.host = std::string(host_port.substr(1, close - 1));
      const std::string_view after = host_port.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') {
          malformed("unexpected text after the IPv6 address");
        }
        port_text = after.substr(1);
      }
    } else {
      const auto colon = host_port.rfind(':');
      options.host = std::string(host_port.substr(0, colon));
      if (colon != std::string_view::npos) {
        port_text = host_port.substr(colon + 1);
      }
    }
    if (options.host.empty()) {
      malformed("empty host");
    }
    if (!port_text.empty() || host_port.back() == ':') {
      const auto port = parse_number(port_text, "port", 65535);
      if (port < 1) {
        malformed("port must be from 1 to 65535");
      }
      options.port = static_cast<int>(port);
    }
  }
  if (path.size() > 1) {
    options.db =
        static_cast<int>(parse_number(path.substr(1), "db", std::numeric_limits<int>::max()));
  }
  apply_query(query, options);
  return options;
}

}  // namespace flashsale
