#include "transport/script_call.hpp"

#include "flashsale/error.hpp"

namespace flashsale::detail {

namespace {

std::vector<std::string> script_arguments(const ScriptCall& call, const char* command,
                                          std::string_view body) {
  if (call.script == nullptr) {
    throw InvalidArgument("script call without a script");
  }
  std::vector<std::string> arguments;
  arguments.reserve(3 + call.keys.size() + call.arguments.size());
  arguments.emplace_back(command);
  arguments.emplace_back(body);
  arguments.push_back(std::to_string(call.keys.size()));
  arguments.insert(arguments.end(), call.keys.begin(), call.keys.end());
  arguments.insert(arguments.end(), call.arguments.begin(), call.arguments.end());
  return arguments;
}

}  // namespace

std::vector<std::string> evalsha_arguments(const ScriptCall& call) {
  return script_arguments(call, "EVALSHA", call.script ? call.script->sha1 : std::string_view{});
}

std::vector<std::string> eval_arguments(const ScriptCall& call) {
  return script_arguments(call, "EVAL", call.script ? call.script->source : std::string_view{});
}

bool is_noscript(const Reply& reply) {
  return reply.is_error() && reply.error_message().rfind("NOSCRIPT", 0) == 0;
}

}  // namespace flashsale::detail
