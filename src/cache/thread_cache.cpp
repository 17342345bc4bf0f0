// The thread cache's slow paths: a miss (CACHE-2: DEPOT-REFILL, then
// CACHE-FILL from the heap), a full list (CACHE-3: DEPOT-SPILL), large and
// aligned blocks (SIZE-2, ALIGN-1, FREE-3), the failure path (ALLOC-3,
// ALLOC-4) and SAN-SCRUB. The fast paths are in thread_cache.h; the cache's
// life cycle in cache_life.cpp, its transfers in cache_transfer.cpp, tool
// mode in tool_mode.cpp, its statistics and checkers in cache_stats.cpp,
// the checked builds' list checks in checked.cpp.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>

#include "heap/backend.h"
#include "cache/cache_internal.h"
#include "depot/depot.h"
#include "heap/heap.h"

namespace concalloc::detail {

CONCALLOC_LARGE_BSS ThreadCache g_no_cache{};  // sizeof(ThreadCache), read only; MALLOC-LEAN
void (*g_exit_report)() = nullptr;
__thread ThreadCache* tl_cache CONCALLOC_STATIC_TLS = &g_no_cache;
__thread CacheState tl_state CONCALLOC_STATIC_TLS = CacheState::kUnborn;

}  // namespace concalloc::detail

// INLINE-2: stays null unless kPublishInline; then it is tl_cache while the
// thread's cache is live.
__thread concalloc::abi_v4::CacheFront* concalloc::abi_v4::tl_front CONCALLOC_STATIC_TLS = nullptr;

namespace concalloc::detail {

namespace {

// MALLOC-LEAN: libconcalloc-malloc has no C++ API that throws, and no C++
// runtime to throw with; only the throwing library does.
#if CONCALLOC_LIBC_BACKEND
[[noreturn]] CONCALLOC_COLD void ThrowBadAlloc() { platform::Abort(); }
#else
[[noreturn]] CONCALLOC_COLD void ThrowBadAlloc() { throw std::bad_alloc(); }
#endif

}  // namespace

// ALLOC-3, ALLOC-4, CAPI-1: the one way an allocation fails.
CONCALLOC_COLD void* Fail(bool fail_throws) {
  if (fail_throws) ThrowBadAlloc();
  errno = ENOMEM;
  return nullptr;
}

namespace {

// Makes b, a block of class cls fresh from the heap (HEAP-SPAN), live for a
// request of `requested` bytes.
void MakeLive(Block* b, std::size_t requested, std::size_t cls) noexcept {
  StoreHeader(b, cls, kStateLive, 0, requested);
  if constexpr (kChecked) FillUser(b, UserBytes(cls), kFillLive);
  san::BlockOut(HeaderAt(b), UserOf(b), requested, UserBytes(cls));  // SAN-LIVE
}

// CACHE-FILL: how many blocks an empty list cls takes from the backend at a
// miss the depot could not serve, the block returned included: at the k-th
// such miss of the class in this cache,
// min(2^k, max(1, limit / 2), max(1, kFillBytes / class size)).
// The ramp (2, 4, 8, 16, ...) keeps a class a thread uses a few times from
// taking 4 KiB of the heap (a process that preloads libconcalloc-malloc and
// barely allocates, like /bin/true, touched 32 KiB more heap than with
// glibc alone); a class in steady use reaches the full fill by its fifth.
constexpr std::size_t kFillBytes = 4096;
constexpr std::uint8_t kFillRampSteps = 5;  // 2^5 = 32: past any list's half
// Counts the miss in the class's ramp.
std::uint32_t NextFillCount(ThreadCache& tc, std::size_t cls) noexcept {
  if constexpr (kMutant == kMutantFillNone) return 1;
  if (tc.fills[cls] < kFillRampSteps) tc.fills[cls] += 1;
  const std::uint32_t ramp = std::uint32_t{1} << tc.fills[cls];
  const std::uint32_t half = tc.limit[cls] / 2 > 0 ? tc.limit[cls] / 2 : 1;
  const std::size_t by_bytes = kFillBytes / kClassSize[cls];
  const std::uint32_t cap = by_bytes > 0 ? static_cast<std::uint32_t>(by_bytes) : 1;
  const std::uint32_t n = half < cap ? half : cap;
  return ramp < n ? ramp : n;
}

// CACHE-FILL: n blocks of class cls from the heap (HEAP-SPAN, one lock
// hold), the first returned live for a request of `requested` bytes, the
// other n - 1 on the empty list cls as cached blocks; nullptr when the heap
// got none. Without a cache (tc null), one block.
Block* FillFromHeap(ThreadCache* tc, std::size_t cls, std::uint32_t n,
                    std::size_t requested) noexcept {
  Block* got[kMaxHeapTake];
  const std::uint32_t k = HeapTake(cls, n, got, tc != nullptr ? tc->client.shard : 0);
  if (CONCALLOC_UNLIKELY(k == 0)) return nullptr;
  if (tc == nullptr) return MakeLive(got[0], requested, cls), got[0];
  tc->backend_allocs += k;
  // CACHE-FILL: the caller gets got[0] and the list the rest, pushed last
  // first, so that its next Allocs get got[1], got[2], ...: blocks carved
  // from a span come out in address order, as a program then walks them.
  if constexpr (kMutant == kMutantFillReversed) std::reverse(got, got + k);  // MUT-1
  for (std::uint32_t i = k - 1; i > 0; --i) {
    Block* b = got[i];
    MakeLive(b, UserBytes(cls), cls);
    LinkOnTop(*tc, b, cls, tc->room[cls] - 1);
    tc->filled[cls] += 1;
    CONCALLOC_TRACE_EVENT(trace::kFill, tc->client.trace, cls, 0, 0, UserOf(b));
  }
  MakeLive(got[0], requested, cls);
  return got[0];
}
static_assert(kFillBytes / kClassSize[0] <= kMaxHeapTake, "CACHE-FILL: a fill is one HeapTake");

// The slow paths' bodies (CACHE-2, ALLOC-3, ALIGN-1, CACHE-3, FREE-3).
template <bool kThrows>
void* AllocSmallBody(std::size_t size) noexcept(!kThrows) {
  if (san::ToolMode()) return ToolAlloc<kThrows>(size, kAlignment);  // SAN-DIRECT
  // CACHE-2: the list is empty (a cache created just now is empty too).
  const std::size_t cls = ClassOfSize(size);
  ThreadCache* tc = LiveCache();
  // HARD-LINK: the fast path leaves a list whose top's link does not decode
  // to here; following it stops the process.
  if (kHardened && tc != nullptr)
    if (const Block* top = Head(*tc, cls); top != nullptr) (void)LinkOf(top);
  if (tc != nullptr) {
    tc->misses += 1;
    // DEPOT-REFILL; DEPOT-PROGRESS: an empty depot sends Alloc on to the
    // backend, never to wait for another thread's batch.
    if (RefillFromDepot(*tc, cls)) {
      void* p = PopTop(*tc, cls, size);
      RunInvariantWalk();
      return p;
    }
  }
  // CACHE-FILL: the list's share and the miss's own block.
  Block* h = FillFromHeap(tc, cls, tc != nullptr ? NextFillCount(*tc, cls) : 1, size);
  if (CONCALLOC_UNLIKELY(h == nullptr)) return Fail(kThrows);  // ALLOC-4
  CONCALLOC_TRACE_EVENT(trace::kNew, tc != nullptr ? tc->client.trace : trace::kNoCache, cls, 0,
                        0, UserOf(h));
  RunInvariantWalk();
  return UserOf(h);
}

}  // namespace

void* LargeBlockOut(void* raw, std::size_t size) noexcept {
  if (ThreadCache* tc = LiveCache()) tc->backend_allocs += 1;
  Block* h = BlockAtRaw(raw);
  StoreHeader(h, kKindLarge, kStateLive, 0,
              kMutant == kMutantLargeSize ? size + kLargeHeader : size);
  if constexpr (kChecked) FillUser(h, size, kFillLive);
  san::BlockOut(HeaderAt(h), UserOf(h), size, size);  // SAN-LIVE
  return UserOf(h);
}

namespace {

template <bool kThrows>
void* AllocLargeBody(std::size_t size) noexcept(!kThrows) {
  if (san::ToolMode()) return ToolAlloc<kThrows>(size, kAlignment);  // SAN-DIRECT
  constexpr bool fail_throws = kThrows;
  // ALLOC-3: sizes whose header would overflow, or above PTRDIFF_MAX.
  if (size > static_cast<std::size_t>(PTRDIFF_MAX) - kLargeHeader) return Fail(fail_throws);
  void* raw = CurrentBackend().alloc(size + kLargeHeader);  // SIZE-2
  if (CONCALLOC_UNLIKELY(raw == nullptr)) return Fail(fail_throws);  // ALLOC-4
  return LargeBlockOut(raw, size);
}

template <bool kThrows>
void* AllocAlignedBody(std::size_t size, std::size_t alignment) noexcept(!kThrows) {
  if (san::ToolMode()) return ToolAlloc<kThrows>(size, alignment);  // SAN-DIRECT
  constexpr bool fail_throws = kThrows;
  CONCALLOC_ASSERT(alignment > kAlignment && (alignment & (alignment - 1)) == 0, "ALIGN-1",
                   nullptr, "alignment not a power of two above 16");
  // ALLOC-3: the rounded size and the leading alignment gap must fit.
  const std::size_t max = static_cast<std::size_t>(PTRDIFF_MAX);
  if (alignment > max / 4 || size > max - 2 * alignment) return Fail(fail_throws);
  const std::size_t total = alignment + ((size + alignment - 1) & ~(alignment - 1));
  // ALIGN-1: the caller's pointer is raw + alignment, the header just below.
  const std::size_t offset = kMutant == kMutantAlignment ? kLargeHeader : alignment;
  char* raw = static_cast<char*>(CurrentBackend().alloc_aligned(alignment, total));
  if (CONCALLOC_UNLIKELY(raw == nullptr)) return Fail(fail_throws);  // ALLOC-4
  if (ThreadCache* tc = LiveCache()) tc->backend_allocs += 1;
  Block* h = BlockOf(raw + offset);
  // USABLE-1: the whole rounded size is usable; SAN-USABLE: the requested one.
  StoreHeader(h, kKindAligned, kStateLive, static_cast<std::uint64_t>(__builtin_ctzll(offset)),
              san::kExactUsable ? size : total - offset);
  if constexpr (kChecked) FillUser(h, total - offset, kFillLive);
  san::BlockOut(HeaderAt(h), UserOf(h), size, total - offset);  // SAN-LIVE
  return UserOf(h);
}

void FreeBody(Block* h) noexcept {
  if (san::ToolMode()) return ToolFree(h);  // SAN-DIRECT
  // HARD-DOUBLE: a cached block's tag is its keyed link, bit 63 set; no
  // live block's tag has it.
  if constexpr (kHardened)
    if (CONCALLOC_UNLIKELY((LoadTag(h) & kCachedMark) != 0)) {
      if constexpr (kMutant == kMutantNoDoubleFreeCheck) return;
      Die("HARD-DOUBLE", UserOf(h), "double free: the block is already free (cached)");
    }
  const Tag tag = ReadTag(h);
  ThreadCache* tc = LiveCache();  // a thread's first Free creates its cache
  const Backend& backend = CurrentBackend();
  if (tag.kind < kNumClasses) {
    if (tc != nullptr) {
      // CACHE-3: the cache was just created, or DEPOT-SPILL made room.
      if (Room(*tc, tag.kind) != 0 || SpillBatch(*tc, tag.kind)) {
        PushBlock(*tc, h, tag.kind, tc->room[tag.kind] - 1);
        RunInvariantWalk();
        return;
      }
      tc->backend_frees += 1;  // CACHE-3: the list is full, no depot
    }
    san::LiveBlockToBackend(UserOf(h));  // SAN-FREE
    if constexpr (kChecked) {
      // CHK-WAF: a block free in its span holds the 0xDD fill, verified when
      // it leaves the span.
      if constexpr (kSpans) FillUser(h, UserBytes(tag.kind), kFillCached);
      StoreHeader(h, tag.kind, kStateFreed, 0, tag.word);
    }
    CONCALLOC_TRACE_EVENT(trace::kBack, tc != nullptr ? tc->client.trace : trace::kNoCache,
                          tag.kind, 0, 0, UserOf(h));  // TRACE-ORDER: before the free
    HeapGive(tag.kind, &h, 1);  // HEAP-RETURN
    RunInvariantWalk();
    return;
  }
  // FREE-3: large and aligned blocks go straight back.
  if (tag.kind == kKindSpanFree)  // HEAP-LINK's mark, in builds that do not stop it above
    Die("HARD-DOUBLE", UserOf(h), "double free: the block is already free (in its span)");
  if (tc != nullptr) tc->backend_frees += 1;
  san::LiveBlockToBackend(UserOf(h));  // SAN-FREE
  if constexpr (kChecked) MarkGivenBack(h);  // HARD-SECRET, CHK-DOUBLE
  if (tag.kind == kKindLarge)
    backend.free(RawOf(h));
  else
    backend.free(reinterpret_cast<char*>(UserOf(h)) - (std::size_t{1} << tag.aux));
}

// SAN-SCRUB: under ASan each slow path runs through platform::CallAndScrub,
// which zeroes the stack its body used before returning: the frames of the
// tool's malloc and of the poisoning calls held copies of the block's
// address, and a caller that returned from its own function left them
// where LeakSanitizer scans at exit, hiding a real leak (seen in 20 of 32
// stack layouts on the main thread). The body runs in its non-throwing
// form; the throwing slow paths throw after the scrub (errno as it was).
std::uintptr_t SmallBodyScrubbed(std::uintptr_t size, std::uintptr_t) noexcept {
  return reinterpret_cast<std::uintptr_t>(AllocSmallBody<false>(size));
}
std::uintptr_t LargeBodyScrubbed(std::uintptr_t size, std::uintptr_t) noexcept {
  return reinterpret_cast<std::uintptr_t>(AllocLargeBody<false>(size));
}
std::uintptr_t AlignedBodyScrubbed(std::uintptr_t size, std::uintptr_t alignment) noexcept {
  return reinterpret_cast<std::uintptr_t>(AllocAlignedBody<false>(size, alignment));
}
std::uintptr_t FreeBodyScrubbed(std::uintptr_t block, std::uintptr_t) noexcept {
  FreeBody(reinterpret_cast<Block*>(block));
  return 0;
}
template <bool kThrows>
void* Scrubbed(platform::ScrubbedFn body, std::uintptr_t a, std::uintptr_t b) noexcept(!kThrows) {
  const int saved = errno;
  void* p = reinterpret_cast<void*>(platform::CallAndScrub(body, a, b));
  if (kThrows && CONCALLOC_UNLIKELY(p == nullptr)) {
    errno = saved;
    ThrowBadAlloc();
  }
  return p;
}
}  // namespace

template <bool kThrows>
void* AllocSmallSlow(std::size_t size) noexcept(!kThrows) {
  if (san::kScrubStack) return Scrubbed<kThrows>(&SmallBodyScrubbed, size, 0);
  return AllocSmallBody<kThrows>(size);
}
template <bool kThrows>
void* AllocLarge(std::size_t size) noexcept(!kThrows) {
  if (san::kScrubStack) return Scrubbed<kThrows>(&LargeBodyScrubbed, size, 0);
  return AllocLargeBody<kThrows>(size);
}
template <bool kThrows>
void* AllocAlignedSlow(std::size_t size, std::size_t alignment) noexcept(!kThrows) {
  if (san::kScrubStack)
    return Scrubbed<kThrows>(&AlignedBodyScrubbed, size, alignment);
  return AllocAlignedBody<kThrows>(size, alignment);
}
void FreeSlow(Block* h) noexcept {
  if (san::kScrubStack) {
    platform::CallAndScrub(&FreeBodyScrubbed, reinterpret_cast<std::uintptr_t>(h), 0);
    return;
  }
  FreeBody(h);
}

#if !CONCALLOC_LIBC_BACKEND  // MALLOC-LEAN: only the non-throwing forms there
template void* AllocSmallSlow<true>(std::size_t);
template void* AllocLarge<true>(std::size_t);
template void* AllocAlignedSlow<true>(std::size_t, std::size_t);
#endif
template void* AllocSmallSlow<false>(std::size_t) noexcept;
template void* AllocLarge<false>(std::size_t) noexcept;
template void* AllocAlignedSlow<false>(std::size_t, std::size_t) noexcept;

void ForgedLink(const Block* h) noexcept {
  Die("HARD-LINK", UserOf(h),
      "a freed block's list link was overwritten (it does not decode with the key)");
}

}  // namespace concalloc::detail
