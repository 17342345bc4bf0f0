// CACHE-*, INV-*: the per-thread cache and its fast paths.
#ifndef CONCALLOC_SRC_THREAD_CACHE_H
#define CONCALLOC_SRC_THREAD_CACHE_H

#include <cstddef>
#include <cstdint>

#include <concalloc/concalloc.h>

#include "block_header.h"
#include "build_config.h"
#include "checked.h"
#include "platform.h"
#include "size_classes.h"

namespace concalloc::detail {

// One LIFO list per class (CACHE-1). 32 bytes: two bins per cache line, and
// each fast path touches one bin only.
struct Bin {
  BlockHeader* head;    // the list; links in BlockHeader::word
  std::uint32_t room;   // how many more blocks the list may take
  std::uint32_t unused;
  std::uint64_t hits;   // blocks popped by Alloc
  std::uint64_t frees;  // blocks pushed by Free
};

// LIFE-2: unborn -> creating -> live -> dead; never back. Only a live thread
// has a cache of its own; the others use the backend directly.
enum class CacheState : std::uint32_t { kUnborn = 0, kCreating = 1, kLive = 2, kDead = 3 };

// A thread's cache. For every class c, with count(c) = limit - bins[c].room:
//   INV-LIST:        from bins[c].head, the links reach nullptr after exactly
//                    count(c) blocks, each 16-aligned (no cycle).
//   INV-CACHE-BOUND: count(c) <= depth.
//   INV-TAG:         every block on list c has tag (kind c, kStateCached).
//   INV-FILL:        (checked builds) each caller byte of those blocks is 0xDD.
//   INV-STATS:       count(c) == bins[c].frees + refilled[c] - bins[c].hits
//                                - flushed[c] - to_depot[c].
// Checkers: CheckInvList, CheckInvCacheBound, CheckInvTag, CheckInvFill,
// CheckInvStats in thread_cache.cpp, run by Validate (VALIDATE-1).
// Touched by its own thread only (CACHE-1). Its memory comes from the
// default backend and is reachable from TLS, so leak checkers scan it.
struct alignas(64) ThreadCache {
  Bin bins[kNumClasses];
  std::uint32_t depth;  // CONF-DEPTH: the bound in force
  std::uint32_t limit;  // what room is reset to: depth (MUT-1 cache_bound: depth + 1)
  std::uint64_t misses;
  std::uint64_t backend_allocs;
  std::uint64_t backend_frees;
  std::uint64_t flushed[kNumClasses];   // blocks from list c to the backend
  std::uint64_t refilled[kNumClasses];  // blocks from the depot into list c
  std::uint64_t to_depot[kNumClasses];  // blocks from list c to the depot
};

// The calling thread's cache. Before the thread has one (unborn) and after it
// is torn down (dead) this points to g_no_cache, whose heads are all null and
// rooms all 0, so both fast paths fall through to the slow path without a
// state test. 8 bytes of initial-exec TLS (FAST-2), dlopen-safe.
extern ThreadCache g_no_cache;
extern __thread ThreadCache* tl_cache CONCALLOC_STATIC_TLS;
extern __thread CacheState tl_state CONCALLOC_STATIC_TLS;

// Slow paths (noinline, thread_cache.cpp). `fail_throws`: on failure throw
// std::bad_alloc (ALLOC-3, ALLOC-4) or return nullptr with errno = ENOMEM
// (CAPI-1).
CONCALLOC_NOINLINE void* AllocSmallSlow(std::size_t size, std::size_t cls, bool fail_throws);
CONCALLOC_NOINLINE void* AllocLarge(std::size_t size, bool fail_throws);
CONCALLOC_NOINLINE void* AllocAlignedSlow(std::size_t size, std::size_t alignment,
                                          bool fail_throws);
CONCALLOC_NOINLINE void FreeSlow(BlockHeader* h) noexcept;

// Checked builds only (CHK-*), called from the fast paths:
// a cached block of list cls: verifies tag, link and 0xDD fill (CHK-LIST,
// CHK-WAF); reads only.
CONCALLOC_NOINLINE void CheckedVerifyCached(const BlockHeader* h, std::size_t cls) noexcept;
// a block leaving list cls for the user: CheckedVerifyCached, then marks it
// live and fills it with 0xCD (CHK-FILL).
CONCALLOC_NOINLINE void CheckedTakeFromList(BlockHeader* h, std::size_t cls) noexcept;
// a pointer passed to Free: returns its kind after CHK-FOREIGN, CHK-DOUBLE.
CONCALLOC_NOINLINE std::uint64_t CheckedKindOfFreed(const void* p) noexcept;
// a block entering list cls: tag cached, 0xDD fill (CHK-FILL).
CONCALLOC_NOINLINE void CheckedPutOnList(BlockHeader* h, std::size_t cls) noexcept;

// CACHE-3: puts h (a live block of class cls) on top of bin's list; the
// caller has checked bin.room != 0.
CONCALLOC_ALWAYS_INLINE void PushBlock(Bin& bin, BlockHeader* h, std::size_t cls) noexcept {
  san::BlockIn(UserOf(h), UserBytes(cls));  // SAN-FREE
  if constexpr (kChecked) CheckedPutOnList(h, cls);
  bin.room -= 1;
  bin.frees += 1;
  StoreWord(h, EncodeLink(bin.head));
  bin.head = h;
  san::BlockCached(UserOf(h), UserBytes(cls));  // SAN-CACHED
}

// CACHE-2: takes h, the top of bin's list of class cls, for a request of
// `requested` bytes.
CONCALLOC_ALWAYS_INLINE void* PopBlock(Bin& bin, BlockHeader* h, std::size_t cls,
                                       std::size_t requested) noexcept {
  san::BlockOpen(UserOf(h), UserBytes(cls));
  if constexpr (kChecked) CheckedTakeFromList(h, cls);
  bin.head = DecodeLink(LoadWord(h));
  bin.room += 1;
  if constexpr (kMutant == kMutantFastPathAtomic)
    __atomic_fetch_add(&bin.hits, 1, __ATOMIC_RELAXED);
  else
    bin.hits += 1;
  StoreWord(h, requested);  // HDR-1: a live class block's word is its requested size
  san::BlockOut(h, UserOf(h), requested, UserBytes(cls));  // SAN-LIVE
  return UserOf(h);
}

// Fast path contract: a block of the size's class popped from the calling
// thread's list, else the slow path; no lock, no atomic RMW (FAST-1).
CONCALLOC_ALWAYS_INLINE void* AllocFast(std::size_t size, bool fail_throws) {
  if (CONCALLOC_LIKELY(size <= kMaxSmallSize)) {
    const std::size_t cls = ClassOfSize(size);
    Bin& bin = tl_cache->bins[cls];
    BlockHeader* h = bin.head;
    if (CONCALLOC_LIKELY(h != nullptr)) return PopBlock(bin, h, cls, size);  // CACHE-2
    return AllocSmallSlow(size, cls, fail_throws);
  }
  return AllocLarge(size, fail_throws);
}

// Fast path contract: a class block pushed onto the calling thread's list
// when it has room, else the slow path; no lock, no atomic RMW (FAST-1).
CONCALLOC_ALWAYS_INLINE void FreeFast(void* p) noexcept {
  if (CONCALLOC_UNLIKELY(p == nullptr)) return;  // FREE-1
  BlockHeader* h = HeaderOf(p);
  std::uint64_t cls;
  if constexpr (kChecked)
    cls = CheckedKindOfFreed(p);
  else
    cls = LoadTag(h);  // release: a class block's tag is its class index
  if (CONCALLOC_LIKELY(cls < kNumClasses)) {
    Bin& bin = tl_cache->bins[cls];
    if (CONCALLOC_LIKELY(bin.room != 0)) {  // CACHE-3
      PushBlock(bin, h, cls);
      return;
    }
  }
  FreeSlow(h);
}

// Called at process exit before the exiting thread's cache is torn down
// (MALLOC-STATS); nullptr: nothing.
extern void (*g_exit_report)();

// Cache maintenance (thread_cache.cpp).
void FlushCache() noexcept;
void TrimAll() noexcept;
ValidationResult ValidateCache() noexcept;
ThreadStats CacheStats() noexcept;

}  // namespace concalloc::detail

#endif
