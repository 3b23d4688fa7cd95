// Turning a ScriptCall into EVALSHA / EVAL arguments: shared by the clients.
#pragma once

#include <string>
#include <vector>

#include "flashsale/client.hpp"

namespace flashsale::detail {

// Throws InvalidArgument when the call has no script.
std::vector<std::string> evalsha_arguments(const ScriptCall& call);
std::vector<std::string> eval_arguments(const ScriptCall& call);

// The reply says the server does not have the script cached.
bool is_noscript(const Reply& reply);

}  // namespace flashsale::detail
