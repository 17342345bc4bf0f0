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

}  // namespace concalloc::detail

#endif
