// Checks that the server will not silently void the library's guarantees.
//
// With an eviction policy other than `noeviction`, Redis deletes keys under
// memory pressure: stock counters, holds and issued sets vanish without an
// error, and a sold-out sale can sell again. Components run this check when
// constructed.
#pragma once

#include "flashsale/client.hpp"
#include "flashsale/export.hpp"

namespace flashsale {

enum class EvictionPolicyCheck {
  Warn,    // log a warning and go on (the default)
  Refuse,  // throw ConfigurationError
  Skip,    // do not look
};

// Reads the policy through client.server_info(). Throws ConfigurationError
// under Refuse when the policy is not noeviction; transport errors propagate.
// Thread-safe when the client is.
FLASHSALE_EXPORT void check_eviction_policy(Client& client, EvictionPolicyCheck mode);

}  // namespace flashsale
