#include "flashsale/script.hpp"

#include <fmt/format.h>

#include "flashsale/error.hpp"

namespace flashsale {

namespace detail {
// Defined in the source generated from lua/ by cmake/EmbedLuaScripts.cmake.
const std::vector<Script>& generated_scripts();
}  // namespace detail

const std::vector<Script>& bundled_scripts() {
  return detail::generated_scripts();
}

const Script& bundled_script(std::string_view name) {
  for (const auto& script : bundled_scripts()) {
    if (script.name == name) {
      return script;
    }
  }
  throw InvalidArgument(fmt::format("no bundled script named \"{}\"", name));
}

}  // namespace flashsale
