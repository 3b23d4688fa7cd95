// Turning a ScriptCall into EVALSHA / EVAL arguments: shared by the clients.
#pragma once

#include <string>
#include <vector>

#include "flashsale/client.hpp"

// FLASHSALE_EXPORT: exported for the unit tests, not part of the API (this
// header is not installed).
namespace flashsale::detail {

// Throws InvalidArgument when the call has no script.
FLASHSALE_EXPORT std::vector<std::string> evalsha_arguments(const ScriptCall& call);
FLASHSALE_EXPORT std::vector<std::string> eval_arguments(const ScriptCall& call);

// The reply says the server does not have the script cached.
bool is_noscript(const Reply& reply);

}  // namespace flashsale::detail
