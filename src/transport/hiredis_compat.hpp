// The one place that knows which hiredis is in use: Debian's 0.14.1 or the
// 1.x that Conan and vcpkg ship. Private to the transport layer.
#pragma once

#include <hiredis/hiredis.h>

#if defined(HIREDIS_MAJOR) && HIREDIS_MAJOR >= 1
#define FLASHSALE_HIREDIS_1 1
#else
#define FLASHSALE_HIREDIS_1 0
#endif

namespace flashsale::detail {

// hiredis 1.x reports a read timeout as REDIS_ERR_TIMEOUT; 0.14 as an I/O
// error with errno EAGAIN, which the caller checks.
inline bool is_timeout_error_code(int code) {
#if defined(REDIS_ERR_TIMEOUT)
  return code == REDIS_ERR_TIMEOUT;
#else
  (void)code;
  return false;
#endif
}

}  // namespace flashsale::detail
