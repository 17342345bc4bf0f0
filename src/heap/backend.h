// BACKEND-1, BACKEND-2: where the caches get and return memory.
#ifndef CONCALLOC_SRC_BACKEND_H
#define CONCALLOC_SRC_BACKEND_H

#include <atomic>

#include <concalloc/backend.h>

namespace concalloc::detail {

extern std::atomic<const Backend*> g_backend;

// Slow paths only: one acquire load, no read-modify-write.
inline const Backend& CurrentBackend() noexcept {
  return *g_backend.load(std::memory_order_acquire);
}

// MALLOC-CALLOC, MALLOC-REALLOC (large_c_heap.cpp): the default backend's
// own calloc and realloc (glibc's: no writes to fresh mapped pages, mremap).
void* CHeapCalloc(std::size_t size) noexcept;
void* CHeapRealloc(void* p, std::size_t size) noexcept;

}  // namespace concalloc::detail

#endif
