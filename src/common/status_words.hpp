// Scripts reply their business outcome as a word ("sold_out"); each component
// maps its words to its status enum with a table and this one lookup.
#pragma once

#include <cstddef>
#include <string_view>

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale::detail {

template <typename Status>
struct StatusWord {
  std::string_view word;
  Status status;
};

// The status `word` names in `words`; ProtocolError naming `script` when the
// table lacks it (the script and the library disagree).
template <typename Status, std::size_t kCount>
Status status_from_word(std::string_view script, std::string_view word,
                        const StatusWord<Status> (&words)[kCount]) {
  for (const auto& candidate : words) {
    if (candidate.word == word) {
      return candidate.status;
    }
  }
  throw ProtocolError(fmt::format("{} replied the unknown status \"{}\"", script, word));
}

}  // namespace flashsale::detail
