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
// nullptr; *touched: the bytes from its start that may hold resident pages.
void* TakeCachedSpan(std::size_t bytes, std::size_t* touched) noexcept;
// Keeps `span`, mapped, empty, its record already cleared (HARD-SPAN: its
// check 0, no class's), if the cache has room; false: the caller unmaps it.
// `touched`: the bytes from its start that may hold resident pages (what
// was ever carved from it since it was mapped or its pages went back).
bool CacheSpan(void* span, std::size_t bytes, std::size_t touched) noexcept;
// Trim(): every cached span back to the system.
void UnmapCachedSpans() noexcept;
// HEAP-CACHE: what a cached span keeps resident at DEPOT-QUIET: its first
// 16 KiB (at least a page: the link that holds it in the cache), where its
// record and a thread's first fills of the class lie (CACHE-FILL takes at
// most 4 KiB of blocks at once). It trades memory (at most a quarter of the
// cache, with 64 KiB spans) for the page faults of a new thread's first
// blocks: with a page kept, ThreadChurn (two threads at a time, each using
// 33 classes, the process down to one thread after each wave) took 2.4x as
// long on the development VM (Intel Xeon), with 16 KiB as long as with
// every page kept.
constexpr std::size_t kCachedSpanKeptBytes = 16384;
// DEPOT-QUIET: the pages of every cached span past what it keeps back to
// the system; the spans stay mapped and cached.
void ReleaseCachedSpanPages() noexcept;

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
