// Turning a script call into EVALSHA / EVAL arguments: shared by the clients.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "flashsale/client.hpp"

// FLASHSALE_EXPORT: exported for the unit tests, not part of the API (this
// header is not installed).
namespace flashsale::detail {

// One entry of a send round: the index of a call (or command) in the
// caller's list, and whether it goes out as EVAL with the source (after
// NOSCRIPT) instead of EVALSHA.
struct RoundEntry {
  std::size_t index = 0;
  bool eval = false;
};

// Views of ScriptCalls, valid while the calls and this object live. Throws
// InvalidArgument for a call without a script.
class ScriptCallViews {
 public:
  explicit ScriptCallViews(const std::vector<ScriptCall>& calls);
  const std::vector<ScriptCallView>& calls() const noexcept { return calls_; }

 private:
  std::vector<std::string_view> views_;
  std::vector<ScriptCallView> calls_;
};

// The reply says the server does not have the script cached.
bool is_noscript(const Reply& reply);

}  // namespace flashsale::detail
