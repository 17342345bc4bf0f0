#include "heap/backend.h"

#include "platform/build_config.h"

#include <cstdlib>

// MALLOC-BACKEND: in libconcalloc-malloc, which is malloc itself, the heap
// behind the caches is glibc's own allocator under its __libc_ names (no
// dlsym at start-up, no recursion); everywhere else it is the C heap.
#if CONCALLOC_LIBC_BACKEND
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
}
#endif

namespace concalloc {
namespace {
#if CONCALLOC_LIBC_BACKEND
void* HeapAlloc(std::size_t size) noexcept { return __libc_malloc(size); }
void* HeapAllocAligned(std::size_t alignment, std::size_t size) noexcept {
  return __libc_memalign(alignment, size);
}
void HeapFree(void* p) noexcept { __libc_free(p); }
#else
void* HeapAlloc(std::size_t size) noexcept { return std::malloc(size); }
void* HeapAllocAligned(std::size_t alignment, std::size_t size) noexcept {
  return std::aligned_alloc(alignment, size);
}
void HeapFree(void* p) noexcept { std::free(p); }
#endif

constexpr Backend kCHeap{&HeapAlloc, &HeapAllocAligned, &HeapFree};
}  // namespace

namespace detail {
std::atomic<const Backend*> g_backend{&kCHeap};

#if CONCALLOC_LIBC_BACKEND
void* CHeapCalloc(std::size_t size) noexcept { return __libc_calloc(1, size); }
void* CHeapRealloc(void* p, std::size_t size) noexcept { return __libc_realloc(p, size); }
#else
void* CHeapCalloc(std::size_t size) noexcept { return std::calloc(1, size); }
void* CHeapRealloc(void* p, std::size_t size) noexcept { return std::realloc(p, size); }
#endif
}

const Backend& DefaultBackend() noexcept { return kCHeap; }

const Backend* SetBackend(const Backend* b) noexcept {
  return detail::g_backend.exchange(b != nullptr ? b : &kCHeap, std::memory_order_acq_rel);
}

}  // namespace concalloc
