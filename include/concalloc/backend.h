// BACKEND-1, BACKEND-2: the heap behind the caches. The default is the C heap
// (malloc, aligned_alloc, free). Tests install a backend that fails or counts.
#ifndef CONCALLOC_BACKEND_H
#define CONCALLOC_BACKEND_H

#include <cstddef>

#include <concalloc/export.h>

namespace concalloc {

struct Backend {
  // Returns size bytes aligned to 16, or nullptr.
  void* (*alloc)(std::size_t size) noexcept;
  // Returns size bytes aligned to alignment (a power of two > 16, and size a
  // multiple of it), or nullptr.
  void* (*alloc_aligned)(std::size_t alignment, std::size_t size) noexcept;
  // Takes back a block from alloc or alloc_aligned.
  void (*free)(void* p) noexcept;
};

// BACKEND-2: installs b (nullptr: the default) for every thread and returns
// the backend it replaces. Blocks already handed out may be freed through the
// new backend, so every backend installed in one process must accept the
// others' blocks (wrappers around the C heap do). The Backend object must
// outlive its use.
CONCALLOC_API const Backend* SetBackend(const Backend* b) noexcept;

// BACKEND-1: the C heap.
CONCALLOC_API const Backend& DefaultBackend() noexcept;

}  // namespace concalloc

#endif  // CONCALLOC_BACKEND_H
