// HEAP-CACHE: empty mapped spans, by size (64, 128, 256 KiB), that the next
// span of any class of that size is made from before the system is asked.
// A thread's first blocks of each class come from a new span, and its exit
// (DEPOT-QUIET) gives them back: without the cache every thread that a
// program starts and ends mapped and unmapped a span per class it used
// (ThreadChurn, 8 threads of 64 classes each: 0.08x glibc's time, the
// unmaps' TLB shootdowns the most of it). Trim() unmaps them.
#include "span_cache.h"

#include "build_config.h"
#include "lock.h"
#include "platform.h"

namespace concalloc::detail {
namespace {

// A cached span's first word links the next of its size.
struct CachedSpan {
  CachedSpan* next;
};

// Under its lock:
//   INV-SPAN-CACHE: from free[i], exactly count[i] spans, each aligned to
//                   its size, 64 KiB << i; bytes == the sum of their sizes
//                   <= kSpanCacheBytes.
// Checker: CheckInvSpanCache.
struct alignas(64) SpanCache {
  WordLock lock;
  CachedSpan* free[3];
  std::uint32_t count[3];
  std::size_t bytes;
  std::uint64_t reused;  // spans made from the cache, ever
};
SpanCache g_span_cache;

int SizeIndex(std::size_t bytes) noexcept { return bytes == 65536 ? 0 : bytes == 131072 ? 1 : 2; }
std::size_t SizeOf(int i) noexcept { return std::size_t{65536} << i; }

}  // namespace

void* TakeCachedSpan(std::size_t bytes) noexcept {
  const int i = SizeIndex(bytes);
  bool contended;
  WordLocked lock(g_span_cache.lock, true, &contended);
  CachedSpan* s = g_span_cache.free[i];
  if (s != nullptr) {
    g_span_cache.free[i] = s->next;
    g_span_cache.count[i] -= 1;
    g_span_cache.bytes -= bytes;
    g_span_cache.reused += 1;
  }
  return s;
}

bool CacheSpan(void* span, std::size_t bytes) noexcept {
  const int i = SizeIndex(bytes);
  bool contended;
  WordLocked lock(g_span_cache.lock, true, &contended);
  if (g_span_cache.bytes + bytes > kSpanCacheBytes && kMutant != kMutantSpanCacheUnbounded)
    return false;
  auto* s = static_cast<CachedSpan*>(span);
  s->next = g_span_cache.free[i];
  g_span_cache.free[i] = s;
  g_span_cache.count[i] += 1;
  g_span_cache.bytes += bytes;
  return true;
}

void UnmapCachedSpans() noexcept {
  CachedSpan* lists[3];
  {
    bool contended;
    WordLocked lock(g_span_cache.lock, true, &contended);
    for (int i = 0; i < 3; ++i) {
      lists[i] = g_span_cache.free[i];
      g_span_cache.free[i] = nullptr;
      g_span_cache.count[i] = 0;
    }
    g_span_cache.bytes = 0;
  }
  // DEPOT-NO-DEADLOCK: the system is called with the lock released.
  for (int i = 0; i < 3; ++i) {
    for (CachedSpan* s = lists[i]; s != nullptr;) {
      CachedSpan* next = s->next;
      platform::UnmapAligned(s, SizeOf(i));
      s = next;
    }
  }
}

SpanCacheCounts GetSpanCacheCounts() noexcept {
  bool contended;
  WordLocked lock(g_span_cache.lock, true, &contended);
  return {g_span_cache.bytes, g_span_cache.reused};
}

const char* CheckInvSpanCache(const void** address) noexcept {
  bool contended;
  WordLocked lock(g_span_cache.lock, true, &contended);
  std::size_t bytes = 0;
  for (int i = 0; i < 3; ++i) {
    std::uint32_t k = 0;
    for (const CachedSpan* s = g_span_cache.free[i]; s != nullptr; s = s->next, ++k) {
      *address = s;
      if (k >= g_span_cache.count[i] ||
          (reinterpret_cast<std::uintptr_t>(s) & (SizeOf(i) - 1)) != 0)
        return "INV-SPAN-CACHE";
      bytes += SizeOf(i);
    }
    if (k != g_span_cache.count[i]) return "INV-SPAN-CACHE";
  }
  *address = &g_span_cache;
  if (bytes != g_span_cache.bytes || bytes > kSpanCacheBytes) return "INV-SPAN-CACHE";
  *address = nullptr;
  return nullptr;
}

void SpanCacheAfterForkInChild() noexcept {
  if (IsHeld(g_span_cache.lock)) {  // its spans stay the parent's, stranded
    for (int i = 0; i < 3; ++i) {
      g_span_cache.free[i] = nullptr;
      g_span_cache.count[i] = 0;
    }
    g_span_cache.bytes = 0;
  }
  RenewInChild(g_span_cache.lock);
}

}  // namespace concalloc::detail
