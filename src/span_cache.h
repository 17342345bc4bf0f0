// HEAP-CACHE, INV-SPAN-CACHE: empty spans mapped from the system, kept for
// the next span of any class of their size (heap.cpp makes and gives back
// spans; this file holds the ones between).
#ifndef CONCALLOC_SRC_SPAN_CACHE_H
#define CONCALLOC_SRC_SPAN_CACHE_H

#include <cstddef>
#include <cstdint>

namespace concalloc::detail {

// The most bytes of empty spans the cache holds (past it, a span given back
// is unmapped).
constexpr std::size_t kSpanCacheBytes = std::size_t{8} << 20;

// An empty mapped span of `bytes` (64, 128 or 256 KiB) from the cache, or
// nullptr.
void* TakeCachedSpan(std::size_t bytes) noexcept;
// Keeps `span`, mapped, empty, its record already cleared (HARD-SPAN: its
// check 0, no class's), if the cache has room; false: the caller unmaps it.
bool CacheSpan(void* span, std::size_t bytes) noexcept;
// Trim(): every cached span back to the system.
void UnmapCachedSpans() noexcept;

struct SpanCacheCounts {
  std::size_t bytes;     // held now
  std::uint64_t reused;  // spans made from the cache, since the start
};
SpanCacheCounts GetSpanCacheCounts() noexcept;
// INV-SPAN-CACHE: the broken clause, or nullptr (VALIDATE-1).
const char* CheckInvSpanCache(const void** address) noexcept;
// LIFE-4: in the fork child (heap.cpp's HeapAfterForkInChild).
void SpanCacheAfterForkInChild() noexcept;

}  // namespace concalloc::detail

#endif
