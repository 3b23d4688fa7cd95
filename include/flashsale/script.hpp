// The Lua scripts bundled into the library at build time, one per file of
// lua/. Their SHA1 is computed at build time, so EVALSHA needs no round trip
// to learn it, and nothing is looked up on disk at run time. The registry is
// immutable static data: thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "flashsale/export.hpp"

namespace flashsale {

struct Script {
  std::string_view name;    // the file name without `.lua`, e.g. "issue_coupon"
  std::string_view source;  // the exact bytes of the file
  std::string_view sha1;    // lowercase hex, equal to what SCRIPT LOAD returns
};

// Every bundled script, ordered by name.
FLASHSALE_EXPORT const std::vector<Script>& bundled_scripts();

// The bundled script of that name; InvalidArgument when there is none.
FLASHSALE_EXPORT const Script& bundled_script(std::string_view name);

}  // namespace flashsale
