// The one typed reader of replies the components parse: script replies
// ({word, number, ...} arrays), TIME and WITHSCORES. Every shape error is a
// ProtocolError naming what replied, so no component walks a Reply itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status_words.hpp"
#include "flashsale/reply.hpp"

namespace flashsale::detail {

// Reads an array reply front to back. The constructor checks the element
// count (exactly `size`, or at least `min_size` with `at_least`). Holds its
// own copy of the reply, so it may be built from a temporary.
class ReplyReader {
 public:
  struct AtLeast {
    std::size_t min_size;
  };

  ReplyReader(Reply reply, std::string_view source, std::size_t size);
  ReplyReader(Reply reply, std::string_view source, AtLeast at_least);
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  // The next element as a status word of `words` (ProtocolError when unknown).
  template <typename Status, std::size_t kCount>
  Status status(const StatusWord<Status> (&words)[kCount]) {
    return status_from_word(source_, next().as_string(), words);
  }
  long long integer();
  // An integer that must not be negative (counts, times).
  long long count();
  double number();
  std::string text();

  std::size_t remaining() const noexcept { return elements_.size() - index_; }
  // Throws ProtocolError: "<source> replied <reply>: <what>".
  [[noreturn]] void fail(std::string_view what) const;
  std::string_view source() const noexcept { return source_; }

 private:
  const Reply& next();

  const Reply reply_;
  const std::vector<Reply>& elements_;  // of reply_
  std::string source_;
  std::size_t index_ = 0;
};

// TIME's {seconds, microseconds} as milliseconds since the Unix epoch.
std::int64_t time_reply_ms(const Reply& reply);

// A WITHSCORES reply as (member, score) pairs, in reply order.
std::vector<std::pair<std::string, double>> with_scores(const Reply& reply,
                                                        std::string_view source);

}  // namespace flashsale::detail
