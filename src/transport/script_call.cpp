#include "transport/script_call.hpp"

#include "flashsale/error.hpp"

namespace flashsale::detail {

namespace {

std::vector<std::string> arguments_of(const ScriptCall& call, bool eval) {
  if (call.script == nullptr) {
    throw InvalidArgument("script call without a script");
  }
  std::vector<std::string> arguments;
  arguments.reserve(3 + call.keys.size() + call.arguments.size());
  arguments.emplace_back(eval ? "EVAL" : "EVALSHA");
  arguments.emplace_back(eval ? call.script->source : call.script->sha1);
  arguments.push_back(std::to_string(call.keys.size()));
  arguments.insert(arguments.end(), call.keys.begin(), call.keys.end());
  arguments.insert(arguments.end(), call.arguments.begin(), call.arguments.end());
  return arguments;
}

}  // namespace

std::vector<std::string> evalsha_arguments(const ScriptCall& call) {
  return arguments_of(call, false);
}

std::vector<std::string> eval_arguments(const ScriptCall& call) {
  return arguments_of(call, true);
}

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
