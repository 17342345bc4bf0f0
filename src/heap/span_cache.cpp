// HEAP-CACHE: empty mapped spans, by size (64, 128, 256 KiB), that the next
// span of any class of that size is made from before the system is asked.
// A thread's first blocks of each class come from a new span, and its exit
// (DEPOT-QUIET) gives them back: without the cache every thread that a
// program starts and ends mapped and unmapped a span per class it used
// (ThreadChurn, 8 threads of 64 classes each: 0.08x glibc's time, the
// unmaps' TLB shootdowns the most of it). DEPOT-QUIET gives their pages
// back and keeps them mapped; Trim() unmaps them.
#include "heap/span_cache.h"

#include "platform/build_config.h"
#include "platform/lock.h"
#include "platform/platform.h"

namespace concalloc::detail {
namespace {

// A cached span's first words link the next of its size and say how far
// from its start pages may be resident (so its first page stays resident
// when the rest goes back).
struct CachedSpan {
  CachedSpan* next;
  std::size_t touched;
};

// Under its lock, for each size i (64 KiB << i):
//   INV-SPAN-CACHE: from resident[i], exactly nresident[i] spans, and from
//                   released[i], exactly nreleased[i], each aligned to its
//                   size; bytes == the sum of their sizes <= kSpanCacheBytes.
//                   A released span's pages past the first went back to
//                   the system after it was last carved (its touched is at
//                   most a page: ReleaseCachedSpanPages).
// Checker: CheckInvSpanCache (the lists, the bytes, the touched extents;
// which pages are resident is the kernel's, checked by the tests with
// mincore).
struct alignas(64) SpanCache {
  WordLock lock;
  CachedSpan* resident[3];
  CachedSpan* released[3];
  std::uint32_t nresident[3];
  std::uint32_t nreleased[3];
  std::size_t bytes;
  std::uint64_t reused;  // spans made from the cache, ever
};
SpanCache g_span_cache;

int SizeIndex(std::size_t bytes) noexcept { return bytes == 65536 ? 0 : bytes == 131072 ? 1 : 2; }
std::size_t SizeOf(int i) noexcept { return std::size_t{65536} << i; }

// What a released span keeps resident (at least a page, which holds its
// link).
std::size_t KeptBytes() noexcept {
  const std::size_t page = platform::PageSize();
  return kCachedSpanKeptBytes > page ? kCachedSpanKeptBytes : page;
}

CachedSpan* Pop(CachedSpan** list, std::uint32_t* n) noexcept {
  CachedSpan* s = *list;
  if (s != nullptr) {
    *list = s->next;
    *n -= 1;
  }
  return s;
}

}  // namespace

void* TakeCachedSpan(std::size_t bytes, std::size_t* touched) noexcept {
  const int i = SizeIndex(bytes);
  CachedSpan* s;
  {
    bool contended;
    WordLocked lock(g_span_cache.lock, true, &contended);
    // A resident span first: its pages need no fault.
    s = Pop(&g_span_cache.resident[i], &g_span_cache.nresident[i]);
    if (s == nullptr) s = Pop(&g_span_cache.released[i], &g_span_cache.nreleased[i]);
    if (s != nullptr) {
      g_span_cache.bytes -= bytes;
      g_span_cache.reused += 1;
      *touched = s->touched;
    }
  }
  return s;
}

bool CacheSpan(void* span, std::size_t bytes, std::size_t touched) noexcept {
  const int i = SizeIndex(bytes);
  bool contended;
  WordLocked lock(g_span_cache.lock, true, &contended);
  if (g_span_cache.bytes + bytes > kSpanCacheBytes && kMutant != kMutantSpanCacheUnbounded)
    return false;
  auto* s = static_cast<CachedSpan*>(span);
  s->touched = touched;
  s->next = g_span_cache.resident[i];
  g_span_cache.resident[i] = s;
  g_span_cache.nresident[i] += 1;
  g_span_cache.bytes += bytes;
  return true;
}

void ReleaseCachedSpanPages() noexcept {
  if constexpr (kMutant == kMutantQuietResident) return;  // MUT-1
  // The resident spans leave the cache while the system is called with the
  // lock released (DEPOT-NO-DEADLOCK), then join the released ones.
  CachedSpan* lists[3];
  {
    bool contended;
    WordLocked lock(g_span_cache.lock, true, &contended);
    for (int i = 0; i < 3; ++i) {
      lists[i] = g_span_cache.resident[i];
      g_span_cache.resident[i] = nullptr;
      g_span_cache.bytes -= g_span_cache.nresident[i] * SizeOf(i);
      g_span_cache.nresident[i] = 0;
    }
  }
  // Only what was carved can be resident: a span carved within what it
  // keeps costs no system call.
  const std::size_t page = platform::PageSize();
  const std::size_t keep = KeptBytes();
  for (int i = 0; i < 3; ++i) {
    for (CachedSpan* s = lists[i]; s != nullptr; s = s->next) {
      const std::size_t end = (s->touched + page - 1) & ~(page - 1);
      if (end > keep) platform::ReleasePages(reinterpret_cast<char*>(s) + keep, end - keep);
      if (s->touched > keep) s->touched = keep;
    }
  }
  // Back as released spans, while they fit (others may have been cached
  // meanwhile); the rest are unmapped, with the lock released.
  {
    bool contended;
    WordLocked lock(g_span_cache.lock, true, &contended);
    for (int i = 0; i < 3; ++i) {
      CachedSpan* over = nullptr;
      while (CachedSpan* s = lists[i]) {
        lists[i] = s->next;
        if (g_span_cache.bytes + SizeOf(i) > kSpanCacheBytes &&
            kMutant != kMutantSpanCacheUnbounded) {
          s->next = over;
          over = s;
          continue;
        }
        s->next = g_span_cache.released[i];
        g_span_cache.released[i] = s;
        g_span_cache.nreleased[i] += 1;
        g_span_cache.bytes += SizeOf(i);
      }
      lists[i] = over;
    }
  }
  for (int i = 0; i < 3; ++i) {
    for (CachedSpan* s = lists[i]; s != nullptr;) {
      CachedSpan* next = s->next;
      platform::UnmapAligned(s, SizeOf(i));
      s = next;
    }
  }
}

void UnmapCachedSpans() noexcept {
  CachedSpan* lists[6];
  {
    bool contended;
    WordLocked lock(g_span_cache.lock, true, &contended);
    for (int i = 0; i < 3; ++i) {
      lists[i] = g_span_cache.resident[i];
      lists[3 + i] = g_span_cache.released[i];
      g_span_cache.resident[i] = g_span_cache.released[i] = nullptr;
      g_span_cache.nresident[i] = g_span_cache.nreleased[i] = 0;
    }
    g_span_cache.bytes = 0;
  }
  // DEPOT-NO-DEADLOCK: the system is called with the lock released.
  for (int k = 0; k < 6; ++k) {
    for (CachedSpan* s = lists[k]; s != nullptr;) {
      CachedSpan* next = s->next;
      platform::UnmapAligned(s, SizeOf(k % 3));
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
  for (int k = 0; k < 6; ++k) {
    const int i = k % 3;
    const CachedSpan* first = k < 3 ? g_span_cache.resident[i] : g_span_cache.released[i];
    const std::uint32_t count = k < 3 ? g_span_cache.nresident[i] : g_span_cache.nreleased[i];
    std::uint32_t n = 0;
    for (const CachedSpan* s = first; s != nullptr; s = s->next, ++n) {
      *address = s;
      if (n >= count || (reinterpret_cast<std::uintptr_t>(s) & (SizeOf(i) - 1)) != 0 ||
          s->touched > SizeOf(i) || (k >= 3 && s->touched > KeptBytes()))
        return "INV-SPAN-CACHE";
      bytes += SizeOf(i);
    }
    if (n != count) return "INV-SPAN-CACHE";
  }
  *address = &g_span_cache;
  if (bytes != g_span_cache.bytes || bytes > kSpanCacheBytes) return "INV-SPAN-CACHE";
  *address = nullptr;
  return nullptr;
}

void SpanCacheAfterForkInChild() noexcept {
  if (IsHeld(g_span_cache.lock)) {  // its spans stay the parent's, stranded
    for (int i = 0; i < 3; ++i) {
      g_span_cache.resident[i] = g_span_cache.released[i] = nullptr;
      g_span_cache.nresident[i] = g_span_cache.nreleased[i] = 0;
    }
    g_span_cache.bytes = 0;
  }
  RenewInChild(g_span_cache.lock);
}

}  // namespace concalloc::detail
