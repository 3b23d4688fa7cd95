#include "flashsale/script.hpp"

#include <fmt/format.h>

#include "flashsale/error.hpp"
#include "lua/scripts.hpp"

namespace flashsale {

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
