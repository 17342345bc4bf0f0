// What the thread cache's own files share, and nothing else includes:
//   thread_cache.cpp    the slow paths and fills (CACHE-2, CACHE-3, CACHE-FILL)
//   cache_life.cpp      the life cycle (LIFE-*), flush and trim
//   cache_transfer.cpp  spills and refills (DEPOT-SPILL, DEPOT-XFER, ...)
//   tool_mode.cpp       SAN-DIRECT
//   checked.cpp         the checked builds' list checks (CHK-*)
//   cache_stats.cpp     STATS-1 and the invariant checkers (INV-*)
#ifndef CONCALLOC_SRC_CACHE_INTERNAL_H
#define CONCALLOC_SRC_CACHE_INTERNAL_H

#include <cstddef>
#include <cstring>

#include "cache/thread_cache.h"

namespace concalloc::detail {

// LIFE-2 (cache_life.cpp): the calling thread's live cache, made on its
// first use; nullptr while it is being made, once it is torn down, or when
// it cannot be made (the caller then goes to the backend).
ThreadCache* LiveCache() noexcept;
// INV-REGISTRY (cache_life.cpp).
ValidationResult CheckInvRegistry() noexcept;

// cache_transfer.cpp: DEPOT-EXIT (to_depot) or FLUSH-1; DEPOT-SPILL (false:
// the depot is off, nothing moved); DEPOT-REFILL (false: nothing to refill
// from).
void DrainBins(ThreadCache& tc, bool to_depot) noexcept;
bool SpillBatch(ThreadCache& tc, std::size_t cls) noexcept;
bool RefillFromDepot(ThreadCache& tc, std::size_t cls) noexcept;

// ALLOC-3, ALLOC-4, CAPI-1 (thread_cache.cpp): the one way an allocation
// fails: std::bad_alloc, or nullptr with errno ENOMEM.
CONCALLOC_COLD void* Fail(bool fail_throws);

// SIZE-2 (thread_cache.cpp): raw, size + kLargeHeader bytes from the
// backend (or the C heap's calloc or realloc, large_c_heap.cpp), made a live
// large block of size bytes: its header, its count, the fill and the
// sanitizer hooks. Returns the caller's pointer.
void* LargeBlockOut(void* raw, std::size_t size) noexcept;

// SAN-DIRECT (tool_mode.cpp): a block of the tool's allocator, and its return.
template <bool kThrows>
CONCALLOC_NOINLINE void* ToolAlloc(std::size_t size, std::size_t alignment) noexcept(!kThrows);
void ToolFree(Block* h) noexcept;

// CHK-FILL: the caller bytes of h set to `fill`.
inline void FillUser(Block* h, std::size_t bytes, unsigned char fill) noexcept {
  std::memset(UserOf(h), fill, bytes);
}

// Tier 3 (CONCALLOC_INVARIANT_WALKS): every invariant walked after each slow
// path step; a broken one stops the process with its clause.
inline void RunInvariantWalk() noexcept {
  if constexpr (kInvariantWalks) {
    ValidationResult r = ValidateCache();
    if (!r) Die(r.clause, r.address, r.reason);
  }
}

}  // namespace concalloc::detail

#endif
