#include "transport/script_call.hpp"

#include "flashsale/error.hpp"

namespace flashsale::detail {

ScriptCallViews::ScriptCallViews(const std::vector<ScriptCall>& calls) {
  std::size_t count = 0;
  for (const auto& call : calls) {
    if (call.script == nullptr) {
      throw InvalidArgument("script call without a script");
    }
    count += call.keys.size() + call.arguments.size();
  }
  views_.reserve(count);  // never reallocated below: the views stay put
  calls_.reserve(calls.size());
  for (const auto& call : calls) {
    const std::size_t keys_at = views_.size();
    views_.insert(views_.end(), call.keys.begin(), call.keys.end());
    views_.insert(views_.end(), call.arguments.begin(), call.arguments.end());
    calls_.push_back({call.script,
                      {views_.data() + keys_at, call.keys.size()},
                      {views_.data() + keys_at + call.keys.size(), call.arguments.size()}});
  }
}

bool is_noscript(const Reply& reply) {
  return reply.is_error() && reply.error_message().rfind("NOSCRIPT", 0) == 0;
}

}  // namespace flashsale::detail
