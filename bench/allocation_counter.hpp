// Counts this thread's calls of operator new. Linked into coupon_ceiling_bench
// and components_bench only: its operator new replaces the global one for the
// whole program, the library included (hiredis allocates with malloc and is
// not counted).
#pragma once

#include <cstdint>

namespace bench {

// The operator new calls this thread made so far.
std::uint64_t thread_allocations() noexcept;

}  // namespace bench
