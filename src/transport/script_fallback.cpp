#include "transport/script_fallback.hpp"

#include "transport/script_call.hpp"

namespace flashsale::detail {

std::vector<Reply> run_scripts_with_eval_fallback(const std::vector<ScriptCall>& calls,
                                                  const ScriptPipelineSender& send,
                                                  Counter* fallbacks) {
  std::vector<std::vector<std::string>> evalsha;
  std::vector<std::size_t> indices;
  evalsha.reserve(calls.size());
  indices.reserve(calls.size());
  for (std::size_t index = 0; index < calls.size(); ++index) {
    evalsha.push_back(evalsha_arguments(calls[index]));
    indices.push_back(index);
  }
  std::vector<const std::vector<std::string>*> pointers;
  pointers.reserve(calls.size());
  for (const auto& arguments : evalsha) {
    pointers.push_back(&arguments);
  }
  std::vector<Reply> replies = send(pointers, indices);

  std::vector<std::size_t> missing;
  for (std::size_t index = 0; index < replies.size(); ++index) {
    if (is_noscript(replies[index])) {
      missing.push_back(index);
    }
  }
  if (missing.empty()) {
    return replies;
  }
  if (fallbacks != nullptr) {
    fallbacks->inc(missing.size());
  }
  std::vector<std::vector<std::string>> eval;
  eval.reserve(missing.size());
  for (const auto index : missing) {
    eval.push_back(eval_arguments(calls[index]));
  }
  pointers.clear();
  for (const auto& arguments : eval) {
    pointers.push_back(&arguments);
  }
  std::vector<Reply> retried = send(pointers, missing);
  for (std::size_t position = 0; position < missing.size(); ++position) {
    replies[missing[position]] = std::move(retried[position]);
  }
  return replies;
}

}  // namespace flashsale::detail
