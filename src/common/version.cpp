#include "flashsale/version.hpp"

#define FLASHSALE_STRINGIFY_DETAIL(x) #x
#define FLASHSALE_STRINGIFY(x) FLASHSALE_STRINGIFY_DETAIL(x)

namespace flashsale {

const char* version_string() noexcept {
  return FLASHSALE_STRINGIFY(FLASHSALE_VERSION_MAJOR) "." FLASHSALE_STRINGIFY(
      FLASHSALE_VERSION_MINOR) "." FLASHSALE_STRINGIFY(FLASHSALE_VERSION_PATCH);
}

}  // namespace flashsale
