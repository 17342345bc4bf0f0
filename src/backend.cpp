#include "backend.h"

#include <cstdlib>

namespace concalloc {
namespace {
void* HeapAlloc(std::size_t size) noexcept { return std::malloc(size); }
void* HeapAllocAligned(std::size_t alignment, std::size_t size) noexcept {
  return std::aligned_alloc(alignment, size);
}
void HeapFree(void* p) noexcept { std::free(p); }

constexpr Backend kCHeap{&HeapAlloc, &HeapAllocAligned, &HeapFree};
}  // namespace

namespace detail {
std::atomic<const Backend*> g_backend{&kCHeap};
}

const Backend& DefaultBackend() noexcept { return kCHeap; }

const Backend* SetBackend(const Backend* b) noexcept {
  return detail::g_backend.exchange(b != nullptr ? b : &kCHeap, std::memory_order_acq_rel);
}

}  // namespace concalloc
