// CACHE-*, INV-*: the per-thread cache and its fast paths.
#ifndef CONCALLOC_SRC_THREAD_CACHE_H
#define CONCALLOC_SRC_THREAD_CACHE_H

#include <cstddef>
#include <cstdint>

#include <concalloc/concalloc.h>

#include "cache/block_header.h"
#include "platform/build_config.h"
#include "modes/checked.h"
#include "depot/depot.h"
#include "platform/platform.h"
#include "cache/size_classes.h"
#include "modes/trace.h"

namespace concalloc::detail {

// LIFE-2: unborn -> creating -> live -> dead; never back. Only a live thread
// has a cache of its own; the others use the backend directly.
enum class CacheState : std::uint32_t { kUnborn = 0, kCreating = 1, kLive = 2, kDead = 3 };

// A thread's cache: one LIFO list per class (CACHE-1), kept as parallel
// arrays indexed by the class, so that each fast path reaches its list's
// fields with the class index itself (scaled addressing, no multiply: FAST-1)
// and the hot arrays of all 96 classes take 1.5 KiB. They are the public
// abi_v4::CacheFront, which inline callers use too (INLINE-3): head[c] and
// the room word room[c], whose low kRoomBits bits are the list's room and
// whose high bits count the fast paths' pops (Room, PopsOf).
// For every class c, with count(c) = limit[c] - Room(tc, c):
//   INV-LIST:        from head[c], the links reach nullptr after exactly
//                    count(c) blocks, each 16-aligned (no cycle).
//   INV-CACHE-BOUND: count(c) <= ListLimit(c, depth, depot), which is depth,
//                    or with the depot on at most kListBytes of blocks; and
//                    nspare[c] <= SpareLimit(c, limit[c]) (DEPOT-XFER).
//   INV-SPARE:       from spare[c], the links reach nullptr after exactly
//                    nspare[c] blocks, each as on a list (16-aligned,
//                    INV-TAG, INV-FILL); SpillCount(limit[c]) <= xfer[c]
//                    <= XferMax(c, limit[c]); the spare is listed when
//                    spare_list[c] holds nspare[c] entries (and then it
//                    holds them as INV-LISTED says, at most kListedMax),
//                    else its segments are marked (DEPOT-SEGMENT).
//   INV-TAG:         every block on list c has tag (kind c, kStateCached).
//   INV-FILL:        (checked builds) each caller byte of those blocks is 0xDD.
//   INV-STATS:       hits + sum over c of PopsOf(room[c]) counts the pops;
//                    the pushes are what that leaves (CacheStats), with
//                    held(c) = count(c) + nspare[c]:
//                    frees == sum over c of held(c) + hits - sum over c of
//                    (refilled[c] + filled[c] - flushed[c] - to_depot[c]),
//                    never negative.
// Checkers: CheckInvList, CheckInvSpare, CheckInvCacheBound, CheckInvTag,
// CheckInvFill, CheckInvStats in thread_cache.cpp, run by Validate
// (VALIDATE-1).
// Touched by its own thread only (CACHE-1). Its memory comes from the
// default backend and is reachable from TLS, so leak checkers scan it.
struct alignas(64) ThreadCache : abi_v4::CacheFront {
  // room[c], head[c], key: from CacheFront, at offset 0
  std::uint32_t depth;  // CONF-DEPTH: the bound in force
  bool depot;           // DEPOT-BUDGET was not 0 when the limits were set
  // What room[c] is reset to: ListLimit (MUT-1 cache_bound: one more).
  std::uint32_t limit[kNumClasses];
  std::uint64_t hits;   // the pops folded out of the room words (SetRoom)
  std::uint64_t misses;
  std::uint64_t backend_allocs;
  std::uint64_t backend_frees;
  std::uint64_t flushed[kNumClasses];   // blocks from list or spare c to the backend
  std::uint64_t refilled[kNumClasses];  // blocks from the depot into list or spare c
  std::uint64_t filled[kNumClasses];    // blocks from the backend into list c (CACHE-FILL)
  std::uint64_t to_depot[kNumClasses];  // blocks from list or spare c to the depot
  // CACHE-FILL's ramp: the fills of class c so far, at most kFillRampSteps.
  std::uint8_t fills[kNumClasses];
  // LIFE-6: the registry of live caches (under the registry lock) and the
  // owner's life token, held while the owner lives.
  ThreadCache* prev;
  ThreadCache* next;
  platform::LifeToken token;
  DepotClient client;  // DEPOT-SHARD: its shard
  // DEPOT-XFER (slow paths only): class c's spare, a chain of nspare[c]
  // cached blocks linked as on a list (listed, or in segments: DEPOT-LISTED,
  // DEPOT-SEGMENT), which a
  // full list's spills join and an empty list refills from first. It goes
  // to the depot as one batch once it holds xfer[c] blocks or more; xfer[c]
  // doubles when the thread's shard then holds a backlog (DepotBacklog), up
  // to XferMax, and goes back to SpillCount when the thread takes a batch
  // from the depot. So a one-way flow that backs up moves batches of up to
  // XferMax blocks through the depot: one lock for each, not one for each
  // half list.
  Block* spare[kNumClasses];
  std::uint32_t nspare[kNumClasses];
  std::uint32_t xfer[kNumClasses];
  // DEPOT-LISTED: spare c's list of addresses (or nullptr): written by the
  // spills, taken along when the spare goes out whole, the rest of a taken
  // batch's list when the spare is that rest.
  BlockList* spare_list[kNumClasses];
};

// The room word (INLINE-3): room in the low bits, pops above.
using abi_v4::kPopStep;
using abi_v4::kRoomBits;
using abi_v4::kRoomMask;
static_assert(kMaxCacheDepth <= kRoomMask,
              "CONF-DEPTH: the deepest list's room fits the room word's low bits");
// How many more blocks list c may take.
CONCALLOC_ALWAYS_INLINE std::uint32_t Room(const ThreadCache& tc, std::size_t c) noexcept {
  return static_cast<std::uint32_t>(tc.room[c] & kRoomMask);
}
// The pops the fast paths counted in list c's room word, not yet folded.
constexpr std::uint64_t PopsOf(std::uint64_t room_word) noexcept { return room_word >> kRoomBits; }
// Slow paths: sets list c's room, and folds its pops into hits first, so
// that a word's pop count wraps only after 2^44 pops with no slow path of
// its class between them (STATS-1).
CONCALLOC_ALWAYS_INLINE void SetRoom(ThreadCache& tc, std::size_t c, std::uint32_t room) noexcept {
  tc.hits += PopsOf(tc.room[c]);
  tc.room[c] = room;
}

// INV-CACHE-BOUND: the most blocks list c may hold. Without the depot, depth
// (the original's bound, for every class). With it, also no more than
// kListBytes of blocks, but at least 2 (at most depth): the cache's memory
// follows the classes a thread uses, not 96 x depth x 8 KiB. At the default
// depth a thread caches at most kMaxCacheBytesAtDefaultDepth (1.19 MiB;
// 6 MiB when every list may hold depth blocks).
constexpr std::size_t kListBytes = 16384;
constexpr std::uint32_t ListLimit(std::size_t cls, std::uint32_t depth, bool depot) noexcept {
  if (!depot) return depth;
  const std::size_t by_bytes = kListBytes / kClassSize[cls];
  const std::uint32_t cap = by_bytes > 2 ? static_cast<std::uint32_t>(by_bytes) : 2;
  return depth < cap ? depth : cap;
}
// DEPOT-SPILL: the blocks a full list gives up at once: half of it.
constexpr std::uint32_t SpillCount(std::uint32_t limit) noexcept {
  return limit / 2 > 0 ? limit / 2 : 1;
}
// DEPOT-XFER: the largest transfer unit of class cls: kXferBytes of blocks,
// at most kMaxXferBlocks, never below a spill.
constexpr std::size_t kXferBytes = 32768;
constexpr std::uint32_t kMaxXferBlocks = 256;
// DEPOT-XFER: a transfer grows only to batches of at most this share of the
// depot's budget (an eighth: 1 MiB of the default 8 MiB).
constexpr std::size_t kXferBudgetShare = 8;
constexpr std::uint32_t XferMax(std::size_t cls, std::uint32_t limit) noexcept {
  const std::size_t by_bytes = kXferBytes / kClassSize[cls];
  const std::uint32_t n =
      by_bytes < kMaxXferBlocks ? static_cast<std::uint32_t>(by_bytes) : kMaxXferBlocks;
  return n > SpillCount(limit) ? n : SpillCount(limit);
}
// INV-CACHE-BOUND: the most blocks spare cls may hold: a spare below xfer
// blocks joined by one spill (then it goes to the depot), or the rest of a
// batch taken from the depot, cut to this.
constexpr std::uint32_t SpareLimit(std::size_t cls, std::uint32_t limit) noexcept {
  return XferMax(cls, limit) + SpillCount(limit) - 1;
}
static_assert(XferMax(0, 32) == kMaxXferBlocks && XferMax(kNumClasses - 1, 2) == 4 &&
                  SpareLimit(kNumClasses - 1, 2) == 4,
              "DEPOT-XFER: 256 blocks of the smallest class, 32 KiB of the largest");
constexpr std::size_t MaxCacheBytes(std::uint32_t depth, bool depot) noexcept {
  std::size_t sum = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) sum += ListLimit(c, depth, depot) * kClassSize[c];
  return sum;
}
constexpr std::size_t kMaxCacheBytesAtDefaultDepth = 1245536;
static_assert(MaxCacheBytes(32, true) == kMaxCacheBytesAtDefaultDepth,
              "INV-CACHE-BOUND: a thread caches at most 1.19 MiB at the default depth");
static_assert(MaxCacheBytes(32, false) == 32 * SumOfClassSizes(),
              "INV-CACHE-BOUND: without the depot, the original's 6 MiB");
// INV-CACHE-BOUND: the spares of a thread (DEPOT-XFER) hold at most this
// many bytes (at the default depth: SPEC INV-CACHE-BOUND's figures, printed
// by proptests/doc_figures.cpp, DOC-FIGURES): only a thread that sends
// every class to other threads at full flow fills them.
constexpr std::size_t MaxSpareBytes(std::uint32_t depth) noexcept {
  std::size_t sum = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c)
    sum += SpareLimit(c, ListLimit(c, depth, true)) * kClassSize[c];
  return sum;
}
constexpr std::size_t kMaxSpareBytesAtDefaultDepth = 3347408;
static_assert(MaxSpareBytes(32) == kMaxSpareBytesAtDefaultDepth,
              "INV-CACHE-BOUND: a thread's spares hold at most 3.19 MiB at the default depth");

// The calling thread's cache. Before the thread has one (unborn) and after it
// is torn down (dead) this points to g_no_cache, whose heads are all null and
// rooms all 0, so both fast paths fall through to the slow path without a
// state test. Initial-exec TLS, like tl_state and abi_v4::tl_front: 24
// bytes in all (FAST-2), dlopen-safe.
extern ThreadCache g_no_cache;
extern __thread ThreadCache* tl_cache CONCALLOC_STATIC_TLS;
extern __thread CacheState tl_state CONCALLOC_STATIC_TLS;

// INLINE-2: inline callers (abi_v4::tl_front) get the live cache only where
// its fast path has no checks and no tool hooks: release builds, TSan's
// included. Checked, ASan and memcheck builds leave tl_front null, so inline
// callers always take Alloc and Free, with their checks and hooks.
// The trace build leaves it null too, so that every step is traced (TRACE-BUILD).
constexpr bool kPublishInline =
    (!kChecked && !san::kAsan && !san::kValgrind && !kTrace) || kMutant == kMutantInlineChecked;

// Slow paths (noinline, thread_cache.cpp). kThrows: on failure throw
// std::bad_alloc (ALLOC-3, ALLOC-4), else return nullptr with errno = ENOMEM
// (CAPI-1); the non-throwing ones are noexcept, so that a noexcept caller
// (malloc) reaches them by a tail jump, with no landing pad (FAST-1).
template <bool kThrows>
CONCALLOC_NOINLINE void* AllocSmallSlow(std::size_t size) noexcept(!kThrows);
template <bool kThrows>
CONCALLOC_NOINLINE void* AllocLarge(std::size_t size) noexcept(!kThrows);
template <bool kThrows>
CONCALLOC_NOINLINE void* AllocAlignedSlow(std::size_t size, std::size_t alignment) noexcept(!kThrows);
CONCALLOC_NOINLINE void FreeSlow(Block* h) noexcept;
// MALLOC-CALLOC (large_c_heap.cpp): a large block (size > kMaxSmall) of
// zeroed bytes, or nullptr with ENOMEM; through the C heap's calloc where
// that is safe (calloc's small blocks stay on the fast path).
void* AllocLargeZeroed(std::size_t size) noexcept;
// MALLOC-REALLOC (large_c_heap.cpp): false when p is not a large block or
// size not a large size, or the C heap's realloc may not be used (then the
// general path); else *out is the block resized by the C heap's realloc,
// or nullptr with ENOMEM and p untouched.
bool ReallocLarge(void* p, std::size_t size, void** out) noexcept;

// Checked builds only (CHK-*), called from the fast paths:
// a cached block of list cls: verifies its header (tag, state, class, the
// check over tag and link), its link's alignment and its 0xDD fill
// (CHK-LIST, CHK-WAF); reads only.
CONCALLOC_NOINLINE void CheckedVerifyCached(const Block* h, std::size_t cls) noexcept;
// a block leaving list cls for the user: CheckedVerifyCached, then marks it
// live (its word: the requested size) and fills it with 0xCD (CHK-FILL);
// returns its successor on the list.
CONCALLOC_NOINLINE Block* CheckedTakeFromList(Block* h, std::size_t cls,
                                              std::size_t requested) noexcept;
// a pointer passed to Free: returns its kind after CHK-FOREIGN, CHK-DOUBLE.
CONCALLOC_NOINLINE std::uint64_t CheckedKindOfFreed(const void* p) noexcept;
// a block entering list cls on top of `next`: 0xDD fill, then its header
// (cached, linked to next) (CHK-FILL).
CONCALLOC_NOINLINE void CheckedPutOnList(Block* h, std::size_t cls, const Block* next) noexcept;

// HARD-LINK: what the fast paths XOR a cached block's link with: the
// cache's copy of LinkKey() (0 when not hardened, as in checked builds).
CONCALLOC_ALWAYS_INLINE std::uint64_t KeyOf(const ThreadCache& tc) noexcept {
  return kHardened ? tc.key : 0;
}
// List c's top. Kept in clear, as glibc keeps its tcache's entries: the
// links an attacker reaches through a freed block are keyed, the cache is
// not a freed block. (abi_v2 keyed the top too; then a push stored a value
// computed from its block's address where the next pop reads it, and the
// processor could not forward the pointer as it was.)
CONCALLOC_ALWAYS_INLINE Block* Head(const ThreadCache& tc, std::size_t c) noexcept {
  return reinterpret_cast<Block*>(static_cast<std::uintptr_t>(tc.head[c]));
}
CONCALLOC_ALWAYS_INLINE void SetHead(ThreadCache& tc, std::size_t c, const Block* top) noexcept {
  tc.head[c] = reinterpret_cast<std::uintptr_t>(top);
}

// Puts b (a live block of class cls) on top of list cls, whose room word
// then is room_word: the caller has checked that the list had room and
// passes its word less 1. Counts nothing.
CONCALLOC_ALWAYS_INLINE void LinkOnTop(ThreadCache& tc, Block* b, std::size_t cls,
                                       std::uint64_t room_word) noexcept {
  san::BlockIn(UserOf(b), UserBytes(cls));  // SAN-FREE
  tc.room[cls] = room_word;
  if constexpr (kChecked)
    CheckedPutOnList(b, cls, Head(tc, cls));
  else  // HARD-LINK: the tag becomes the keyed link to the old top
    StoreTag(b, tc.head[cls] ^ KeyOf(tc));
  SetHead(tc, cls, b);
  san::BlockCached(UserOf(b), UserBytes(cls));  // SAN-CACHED
}

// CACHE-3: Free puts b on top of list cls (LinkOnTop); a push is counted
// by what it leaves (INV-STATS).
CONCALLOC_ALWAYS_INLINE void PushBlock(ThreadCache& tc, Block* b, std::size_t cls,
                                       std::uint64_t room_word) noexcept {
  LinkOnTop(tc, b, cls, room_word);
  CONCALLOC_TRACE_EVENT(trace::kPush, tc.client.trace, cls, 0, 0, UserOf(b));
}

// CACHE-2: takes b, the top of list cls, for a request of `requested` bytes.
CONCALLOC_ALWAYS_INLINE void* PopBlock(ThreadCache& tc, Block* b, std::size_t cls,
                                       std::size_t requested, std::uint64_t next) noexcept {
  san::BlockOpen(UserOf(b), UserBytes(cls));
  if constexpr (kChecked) {
    SetHead(tc, cls, CheckedTakeFromList(b, cls, requested));
  } else {
    // HARD-LINK: the decoded link (checked by the caller) becomes the top,
    // and the tag is the class again.
    tc.head[cls] = next;
    StoreTag(b, cls);
  }
  // INV-STATS: one place more and one pop more, in one add.
  if constexpr (kMutant == kMutantFastPathAtomic)
    __atomic_fetch_add(&tc.room[cls], kPopStep, __ATOMIC_RELAXED);
  else
    tc.room[cls] += kPopStep;
  // HDR-1: a live class block's word is its requested size where someone
  // reads it (SAN-USABLE; checked builds store it with the header above);
  // release skips the store.
  if constexpr (!kChecked && san::kExactUsable) StoreWord(b, requested);
  san::BlockOut(HeaderAt(b), UserOf(b), requested, UserBytes(cls));  // SAN-LIVE
  CONCALLOC_TRACE_EVENT(trace::kPop, tc.client.trace, cls, 0, 0, UserOf(b));
  return UserOf(b);
}

// The slow paths' pop of list cls's top (not empty): its link decoded by
// LinkOf, which stops a forged one (HARD-LINK).
CONCALLOC_ALWAYS_INLINE void* PopTop(ThreadCache& tc, std::size_t cls,
                                     std::size_t requested) noexcept {
  Block* b = Head(tc, cls);
  std::uint64_t next = 0;  // checked builds: CheckedTakeFromList follows it
  if constexpr (!kChecked) next = reinterpret_cast<std::uintptr_t>(LinkOf(b));
  return PopBlock(tc, b, cls, requested, next);
}

// Fast path contract: a block of the size's class popped from the calling
// thread's list, else the slow path; no lock, no atomic RMW (FAST-1).
template <bool kThrows>
CONCALLOC_ALWAYS_INLINE void* AllocFast(std::size_t size) noexcept(!kThrows) {
  if (CONCALLOC_LIKELY(size <= kMaxSmall)) {
    const std::size_t cls = ClassOfSize(size);
    ThreadCache& tc = *tl_cache;
    Block* b = Head(tc, cls);
    if (CONCALLOC_LIKELY(b != nullptr)) {  // CACHE-2
      // HARD-LINK: a link that does not decode (bit 63 set: forged) goes to
      // the slow path, which stops it (a tail jump; the fast path makes no
      // call: FAST-1). Checked builds verify it in CheckedTakeFromList.
      std::uint64_t next = 0;
      if constexpr (!kChecked) next = LoadTag(b) ^ KeyOf(tc);
      if constexpr (kHardened && kMutant != kMutantNoLinkCheck)
        if (CONCALLOC_UNLIKELY(static_cast<std::int64_t>(next) < 0))
          return AllocSmallSlow<kThrows>(size);
      return PopBlock(tc, b, cls, size, next);
    }
    return AllocSmallSlow<kThrows>(size);
  }
  return AllocLarge<kThrows>(size);
}

// Fast path contract: a class block pushed onto the calling thread's list
// when it has room, else the slow path; no lock, no atomic RMW (FAST-1).
CONCALLOC_ALWAYS_INLINE void FreeFast(void* p) noexcept {
  if (CONCALLOC_UNLIKELY(p == nullptr)) return;  // FREE-1
  Block* b = BlockOf(p);
  std::uint64_t cls;
  if constexpr (kChecked)
    cls = CheckedKindOfFreed(p);
  else
    cls = LoadTag(b);  // release: a class block's tag is its class index
  if (CONCALLOC_LIKELY(cls < kNumClasses)) {
    ThreadCache& tc = *tl_cache;
    const std::uint64_t room_word = tc.room[cls];
    if (CONCALLOC_LIKELY((room_word & kRoomMask) != 0)) {  // CACHE-3: the list has room
      PushBlock(tc, b, cls, room_word - 1);
      return;
    }
  }
  FreeSlow(b);
}

// SAN-DIRECT: UsableSize in tool mode (the tool checks the pointer).
std::size_t ToolUsableSize(const void* p) noexcept;

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
