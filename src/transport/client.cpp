#include "flashsale/client.hpp"

namespace flashsale {

Reply Client::run_script(const ScriptCall& call) {
  Reply reply = std::move(run_script_pipeline({call}).front());
  reply.throw_if_error();
  return reply;
}

}  // namespace flashsale
