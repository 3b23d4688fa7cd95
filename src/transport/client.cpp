#include "flashsale/client.hpp"

#include "flashsale/error.hpp"

namespace flashsale {

Reply Client::run_script(const ScriptCall& call) {
  if (call.script == nullptr) {
    throw InvalidArgument("script call without a script");
  }
  // One vector of views instead of a copy of every key and argument.
  std::vector<std::string_view> views;
  views.reserve(call.keys.size() + call.arguments.size());
  views.insert(views.end(), call.keys.begin(), call.keys.end());
  views.insert(views.end(), call.arguments.begin(), call.arguments.end());
  return run_script_views(*call.script, {views.data(), call.keys.size()},
                          {views.data() + call.keys.size(), call.arguments.size()});
}

Reply Client::run_script(const Script& script, ArgumentViews keys, ArgumentViews arguments) {
  return run_script_views(script, keys, arguments);
}

Reply Client::run_script_views(const Script& script, ArgumentViews keys, ArgumentViews arguments) {
  std::vector<ScriptCall> calls(1);
  calls.front().script = &script;
  calls.front().keys.assign(keys.begin(), keys.end());
  calls.front().arguments.assign(arguments.begin(), arguments.end());
  Reply reply = std::move(run_script_pipeline(calls).front());
  reply.throw_if_error();
  return reply;
}

}  // namespace flashsale
