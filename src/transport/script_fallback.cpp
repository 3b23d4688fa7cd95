#include "transport/script_fallback.hpp"

namespace flashsale::detail {

std::vector<Reply> run_scripts_with_eval_fallback(std::size_t count, ScriptPipelineSender send,
                                                  Counter* fallbacks) {
  std::vector<RoundEntry> entries(count);
  for (std::size_t index = 0; index < count; ++index) {
    entries[index].index = index;
  }
  std::vector<Reply> replies = send(entries);

  entries.clear();
  for (std::size_t index = 0; index < replies.size(); ++index) {
    if (is_noscript(replies[index])) {
      entries.push_back({index, true});
    }
  }
  if (entries.empty()) {
    return replies;
  }
  if (fallbacks != nullptr) {
    fallbacks->inc(entries.size());
  }
  std::vector<Reply> retried = send(entries);
  for (std::size_t position = 0; position < entries.size(); ++position) {
    replies[entries[position].index] = std::move(retried[position]);
  }
  return replies;
}

}  // namespace flashsale::detail
