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

std::vector<Reply> Client::run_script_pipeline(const std::vector<ScriptCallView>& calls) {
  for (const auto& call : calls) {
    if (call.script == nullptr) {
      throw InvalidArgument("script call without a script");
    }
  }
  if (calls.empty()) {
    return {};
  }
  return run_script_pipeline_views(calls);
}

Reply Client::run_script_views(const Script& script, ArgumentViews keys, ArgumentViews arguments) {
  Reply reply =
      std::move(run_script_pipeline_views({ScriptCallView{&script, keys, arguments}}).front());
  reply.throw_if_error();
  return reply;
}

std::vector<Reply> Client::run_script_pipeline_views(const std::vector<ScriptCallView>& calls) {
  std::vector<ScriptCall> copies(calls.size());
  for (std::size_t index = 0; index < calls.size(); ++index) {
    copies[index].script = calls[index].script;
    copies[index].keys.assign(calls[index].keys.begin(), calls[index].keys.end());
    copies[index].arguments.assign(calls[index].arguments.begin(), calls[index].arguments.end());
  }
  return run_script_pipeline(copies);
}

}  // namespace flashsale
