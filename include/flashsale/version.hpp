// The library version. CMake reads the numbers from this file.
#pragma once

#include "flashsale/export.hpp"

#define FLASHSALE_VERSION_MAJOR 0
#define FLASHSALE_VERSION_MINOR 1
#define FLASHSALE_VERSION_PATCH 0
#define FLASHSALE_VERSION \
  (FLASHSALE_VERSION_MAJOR * 10000 + FLASHSALE_VERSION_MINOR * 100 + FLASHSALE_VERSION_PATCH)

namespace flashsale {

// "MAJOR.MINOR.PATCH" of the library linked in (which may differ from the
// header compiled against when linked dynamically).
FLASHSALE_EXPORT const char* version_string() noexcept;

}  // namespace flashsale
