#include "common/script_reply.hpp"

#include <utility>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale::detail {

ReplyReader::ReplyReader(Reply reply, std::string_view source, std::size_t size)
    : reply_(std::move(reply)), elements_(reply_.as_array()), source_(source) {
  if (elements_.size() != size) {
    throw ProtocolError(fmt::format("{} replied {} ({} elements, expected {})", source_,
                                    reply_.describe(), elements_.size(), size));
  }
}

ReplyReader::ReplyReader(Reply reply, std::string_view source, AtLeast at_least)
    : reply_(std::move(reply)), elements_(reply_.as_array()), source_(source) {
  if (elements_.size() < at_least.min_size) {
    throw ProtocolError(fmt::format("{} replied {} ({} elements, expected at least {})", source_,
                                    reply_.describe(), elements_.size(), at_least.min_size));
  }
}

void ReplyReader::fail(std::string_view what) const {
  throw ProtocolError(fmt::format("{} replied {}: {}", source_, reply_.describe(), what));
}

const Reply& ReplyReader::next() {
  if (index_ == elements_.size()) {
    fail("too few elements");
  }
  return elements_[index_++];
}

long long ReplyReader::integer() {
  return next().as_integer();
}

long long ReplyReader::count() {
  const long long value = integer();
  if (value < 0) {
    fail("a negative count");
  }
  return value;
}

double ReplyReader::number() {
  return next().as_double();
}

std::string ReplyReader::text() {
  return next().as_string();
}

std::int64_t time_reply_ms(const Reply& reply) {
  ReplyReader time(reply, "TIME", 2);
  const long long seconds = time.count();
  const long long microseconds = time.count();
  return seconds * 1000 + microseconds / 1000;
}

std::vector<std::pair<std::string, double>> with_scores(const Reply& reply,
                                                        std::string_view source) {
  const auto& elements = reply.as_array();
  if (elements.size() % 2 != 0) {
    throw ProtocolError(
        fmt::format("{} WITHSCORES replied {} elements, an odd count", source, elements.size()));
  }
  std::vector<std::pair<std::string, double>> pairs;
  pairs.reserve(elements.size() / 2);
  for (std::size_t i = 0; i < elements.size(); i += 2) {
    pairs.emplace_back(elements[i].as_string(), elements[i + 1].as_double());
  }
  return pairs;
}

}  // namespace flashsale::detail
