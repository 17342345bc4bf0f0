// The thread cache's slow paths, life cycle (LIFE-*), flush (FLUSH-1),
// statistics (STATS-1) and invariant checkers (INV-*, VALIDATE-1).
#include "thread_cache.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "backend.h"
#include "config.h"
#include "depot.h"
#include "heap.h"
#include "lock.h"

namespace concalloc::detail {

CONCALLOC_LARGE_BSS ThreadCache g_no_cache{};  // 4.8 KiB, read only; MALLOC-LEAN
void (*g_exit_report)() = nullptr;
__thread ThreadCache* tl_cache CONCALLOC_STATIC_TLS = &g_no_cache;
__thread CacheState tl_state CONCALLOC_STATIC_TLS = CacheState::kUnborn;

}  // namespace concalloc::detail

// INLINE-2: stays null unless kPublishInline; then it is tl_cache while the
// thread's cache is live.
__thread concalloc::abi_v4::CacheFront* concalloc::abi_v4::tl_front CONCALLOC_STATIC_TLS = nullptr;

namespace concalloc::detail {

namespace {

// The cache itself comes from the default backend, not the injectable one
// (so tests that count blocks see only blocks), and is reachable from the
// thread's TLS, so leak checkers scan it.
ThreadCache* NewCacheMemory() noexcept {
  void* p = DefaultBackend().alloc_aligned(alignof(ThreadCache), sizeof(ThreadCache));
  return p == nullptr ? nullptr : new (p) ThreadCache{};
}
void DeleteCacheMemory(ThreadCache* tc) noexcept { DefaultBackend().free(tc); }

// MALLOC-LEAN: libconcalloc-malloc has no C++ API that throws, and no C++
// runtime to throw with; only the throwing library does.
#if CONCALLOC_LIBC_BACKEND
[[noreturn]] CONCALLOC_COLD void ThrowBadAlloc() { platform::Abort(); }
#else
[[noreturn]] CONCALLOC_COLD void ThrowBadAlloc() { throw std::bad_alloc(); }
#endif

// ALLOC-3, ALLOC-4, CAPI-1: the one way an allocation fails.
CONCALLOC_COLD void* Fail(bool fail_throws) {
  if (fail_throws) ThrowBadAlloc();
  errno = ENOMEM;
  return nullptr;
}

void FillUser(Block* h, std::size_t bytes, unsigned char fill) noexcept {
  std::memset(UserOf(h), fill, bytes);
}

// CONF-DEPTH: an empty cache takes the configured depth.
void ResetBins(ThreadCache& tc) noexcept {
  const std::uint32_t depth = static_cast<std::uint32_t>(g_cache_depth.Get());
  tc.depth = depth;
  tc.depot = DepotBudgetBytes() > 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    CONCALLOC_ASSERT(Head(tc, c) == nullptr, "FLUSH-1", Head(tc, c), "resetting a non-empty list");
    CONCALLOC_ASSERT(tc.nspare[c] == 0, "FLUSH-1", tc.spare[c], "resetting a non-empty spare");
    const std::uint32_t limit = ListLimit(c, depth, tc.depot);
    tc.limit[c] = kMutant == kMutantCacheBound ? limit + 1 : limit;
    SetRoom(tc, c, tc.limit[c]);
    tc.xfer[c] = SpillCount(tc.limit[c]);  // DEPOT-XFER: transfers start at a spill
  }
  CONCALLOC_TRACE_EVENT(trace::kCache, tc.client.trace, 0, 0, 0, nullptr,
                        std::uint64_t{depth} | std::uint64_t{tc.depot} << 32);
}

void RunInvariantWalk() noexcept {
  if constexpr (kInvariantWalks) {
    ValidationResult r = ValidateCache();
    if (!r) Die(r.clause, r.address, r.reason);
  }
}

void OnThreadExit(void* cache) noexcept;

// LIFE-6: every cache that is live (created, not yet torn down or reaped),
// on one doubly linked list under the registry lock:
//   INV-REGISTRY: a cache is on the list exactly while it is live, and then
//                 its owner holds its life token unless the owner has died.
// A cache whose thread died without its teardown (created during the last
// round of pthread-key destructors, when glibc runs no further round) is
// found by its token and returned like an exiting thread's (DEPOT-EXIT).
struct Registry {
  ThreadCache* head = nullptr;
  ThreadCache* cursor = nullptr;  // where the next bounded reap starts
  std::uint32_t next_shard = 0;   // DEPOT-SHARD: round robin over the shards
  // Caches on the list (DEPOT-QUIET), written under the registry lock and
  // read without it by DEPOT-ALONE (a hint: either answer is safe).
  std::atomic<std::size_t> live{0};
};
Registry g_registry;

void Register(ThreadCache* tc) noexcept {
  Locked lock(g_registry_lock);
  tc->client.shard = g_registry.next_shard++ % kDepotShards;
  g_registry.live.store(g_registry.live.load(std::memory_order_relaxed) + 1,
                       std::memory_order_relaxed);
  tc->prev = nullptr;
  tc->next = g_registry.head;
  if (tc->next != nullptr) tc->next->prev = tc;
  g_registry.head = tc;
}

// The caller holds the registry lock.
void UnlinkLocked(ThreadCache* tc) noexcept {
  g_registry.live.store(g_registry.live.load(std::memory_order_relaxed) - 1,
                       std::memory_order_relaxed);
  if (g_registry.cursor == tc) g_registry.cursor = tc->next;
  (tc->prev != nullptr ? tc->prev->next : g_registry.head) = tc->next;
  if (tc->next != nullptr) tc->next->prev = tc->prev;
  tc->prev = tc->next = nullptr;
}

}  // namespace

// DEPOT-COUNTS: every live cache's counts, under the registry lock (a cache
// is freed only after it has left the registry).
void AddLiveCounts(GlobalStats& s) noexcept {
  Locked lock(g_registry_lock);
  for (const ThreadCache* tc = g_registry.head; tc != nullptr; tc = tc->next)
    AddCounts(s, tc->client);
}

namespace {

// DEPOT-ALONE: the calling thread's cache is the only live one (read
// without the lock: a cache registering meanwhile only means one batch more
// goes to the backend, which is always allowed).
bool Alone() noexcept { return g_registry.live.load(std::memory_order_relaxed) <= 1; }

// Returns how many caches remain.
std::size_t Unregister(ThreadCache* tc) noexcept {
  Locked lock(g_registry_lock);
  UnlinkLocked(tc);
  return g_registry.live.load(std::memory_order_relaxed);
}

// DEPOT-QUIET: a process down to one thread that allocates keeps at most
// kQuietKeepBytes in the depot, its oldest batches given back; when that
// gave back kQuietHeapTrimBytes or more, the C heap returns its free pages.
// Nothing is kept: blocks scattered over the exited threads' arenas pin a
// page each (256 KiB of 64-byte blocks could pin 16 MiB), and the one thread
// left refills from the backend at CACHE-FILL's pace.
constexpr std::size_t kQuietKeepBytes = 0;
constexpr std::size_t kQuietHeapTrimBytes = 1024 * 1024;
void QuietDepot(std::size_t caches_left) noexcept {
  if (caches_left > 1 || DepotBudgetBytes() == 0 || kMutant == kMutantNoQuiet) return;
  const std::size_t given = DepotTrimTo(kQuietKeepBytes) + HeapTrim();  // HEAP-RETURN
  if (given >= kQuietHeapTrimBytes && &CurrentBackend() == &DefaultBackend())
    platform::HeapTrim();
}

void DrainBins(ThreadCache& tc, bool to_depot) noexcept;

// DEPOT-BUDGET: a batch the depot refused (in the thread's hand) to the
// backend.
void GiveBackRefused(ThreadCache& tc, std::size_t cls, Batch batch) noexcept {
  CONCALLOC_TRACE_SEQ(seq);  // TRACE-ORDER: before the first free
  const std::uint32_t freed =
      kMutant == kMutantTraceRefusedKept ? 0 : GiveChain(batch.head, batch.count, cls);
  CONCALLOC_TRACE_AT(seq, trace::kRefuse, tc.client.trace, cls, 0, freed, UserOf(batch.head));
  (void)freed;
  tc.backend_frees += batch.count;
}

// LIFE-6: checks the caches of the registry (all of them, or `budget` from
// where the last bounded reap stopped, going round) and returns those whose
// owner died without its teardown: their lists go to the depot or the
// backend (DEPOT-EXIT), after the registry lock is released (the locks
// never nest: DEPOT-NO-DEADLOCK).
constexpr std::size_t kReapAll = ~std::size_t{0};
void ReapOrphans(std::size_t budget) noexcept {
  if constexpr (kMutant == kMutantNoReap) return;
  ThreadCache* orphans = nullptr;
  std::size_t caches_left;
  {
    Locked lock(g_registry_lock);
    if (budget == kReapAll) g_registry.cursor = nullptr;
    ThreadCache* tc = g_registry.cursor != nullptr ? g_registry.cursor : g_registry.head;
    for (std::size_t k = 0; k < budget && tc != nullptr; ++k) {
      ThreadCache* next = tc->next;
      if (budget != kReapAll && next == nullptr) next = g_registry.head;  // round
      if (tc != tl_cache && platform::LifeTokenOwnerDied(tc->token)) {
        if (next == tc) next = nullptr;
        UnlinkLocked(tc);
        tc->next = orphans;
        orphans = tc;
      }
      tc = next;
    }
    g_registry.cursor = tc;
    caches_left = g_registry.live.load(std::memory_order_relaxed);
  }
  const bool reaped = orphans != nullptr;
  while (orphans != nullptr) {
    ThreadCache* tc = orphans;
    orphans = tc->next;
    DrainBins(*tc, true);
    CONCALLOC_TRACE_EVENT(trace::kExit, tc->client.trace, 0, 0, 0, nullptr);
    RetireCounts(tc->client);  // DEPOT-COUNTS
    DeleteCacheMemory(tc);
  }
  if (reaped) QuietDepot(caches_left);
}
// Each new cache checks this many others, so orphans are found as threads
// come and go, at a bounded cost per thread.
constexpr std::size_t kReapPerNewCache = 2;

// LIFE-2: the calling thread's live cache, created on its first use; nullptr
// while it is being created, once it is torn down, or when it cannot be made
// (then the caller goes to the backend: the "static" path).
ThreadCache* LiveCache() noexcept {
  if (CONCALLOC_LIKELY(tl_state == CacheState::kLive)) return tl_cache;
  if (tl_state != CacheState::kUnborn) return nullptr;
  if (san::ToolMode()) return nullptr;  // SAN-DIRECT: no cache at all
  tl_state = CacheState::kCreating;  // anything allocating below goes static
  ThreadCache* tc = NewCacheMemory();
  if (tc == nullptr) {
    tl_state = CacheState::kUnborn;
    return nullptr;
  }
  if (!platform::AtThreadExit(&OnThreadExit, tc)) {  // LIFE-1 needs the hook
    DeleteCacheMemory(tc);
    tl_state = CacheState::kUnborn;
    return nullptr;
  }
  if (!platform::HoldLifeToken(tc->token)) {  // LIFE-6
    platform::AtThreadExit(&OnThreadExit, nullptr);
    DeleteCacheMemory(tc);
    tl_state = CacheState::kUnborn;
    return nullptr;
  }
  tc->key = LinkKey();  // HARD-LINK: what the fast paths key links with
  CONCALLOC_TRACE_ONLY(tc->client.trace = trace::NewThreadIndex();)
  for (std::size_t c = 0; c < kNumClasses; ++c) SetHead(*tc, c, nullptr);
  ResetBins(*tc);
  Register(tc);
  tl_cache = tc;
  if constexpr (kPublishInline) abi_v4::tl_front = tc;  // INLINE-2
  tl_state = CacheState::kLive;
  ReapOrphans(kReapPerNewCache);
  return tc;
}

// FLUSH-1: list c's blocks to the heap (HEAP-RETURN).
void FlushList(ThreadCache& tc, std::size_t c) noexcept {
  // Walk count blocks exactly, so that a corrupt list cannot loop forever.
  const std::uint32_t count = tc.limit[c] - Room(tc, c);
  CONCALLOC_TRACE_SEQ(seq);  // TRACE-ORDER: before the first free
  const std::uint32_t freed = GiveChain(Head(tc, c), count, c, kMutant == kMutantLostBlock);
  CONCALLOC_TRACE_AT(seq, trace::kFlush, tc.client.trace, c, 0, freed, nullptr);
  (void)freed;
  SetHead(tc, c, nullptr);
  SetRoom(tc, c, tc.limit[c]);
  tc.flushed[c] += count;
  tc.backend_frees += count;
}

// DEPOT-SEGMENT: cuts the chain of `count` blocks of class cls at `head`
// after at most `most` (>= 1) of them: at the end of the last whole segment
// that fits, found without walking the segments; or, when the first
// segment is longer than `most` or its end is not known (and in checked
// builds), after exactly `most`, walking them (what is left of the segment
// is marked again). Returns how many blocks the first part has; *rest is
// the first block after it (nullptr: the chain was not cut).
std::uint32_t CutChain(Block* head, std::uint32_t count, std::uint32_t most, std::size_t cls,
                       Block** rest) noexcept {
  if (count <= most) {
    *rest = nullptr;
    return count;
  }
  std::uint32_t taken = 0;
  Segment seg = ReadSegment(head);
  if (seg.count != 0 && seg.count <= most) {
    Block* last = seg.last;
    taken = seg.count;
    for (;;) {
      Block* next = LinkOf(last);  // HARD-LINK
      if (CONCALLOC_UNLIKELY(next == nullptr)) ForgedLink(last);  // the marks overran the chain
      seg = ReadSegment(next);
      if (seg.count == 0 || taken + seg.count > most) break;
      taken += seg.count;
      last = seg.last;
    }
    *rest = LinkOf(last);
    SetLink(last, cls, nullptr);
    return taken;
  }
  Block* last = head;
  for (std::uint32_t k = 1; k < most; ++k) last = NextCached(last, cls);  // CHK-LIST
  *rest = NextCached(last, cls);
  if (CONCALLOC_UNLIKELY(*rest == nullptr)) ForgedLink(last);  // shorter than its count
  MarkSegment(*rest, seg.last, seg.count > most ? seg.count - most : 0);
  SetLink(last, cls, nullptr);
  return most;
}

// DEPOT-XFER: up to `most` blocks from the front of spare cls (not empty)
// leave it, to the thread's hand, cut at a segment's end (DEPOT-SEGMENT):
// returned as a batch.
Batch TakeFromSpare(ThreadCache& tc, std::size_t cls, std::uint32_t most) noexcept {
  Block* head = tc.spare[cls];
  const std::uint32_t n = CutChain(head, tc.nspare[cls], most, cls, &tc.spare[cls]);
  tc.nspare[cls] -= n;
  CONCALLOC_TRACE_EVENT(trace::kUnstash, tc.client.trace, cls, 0, n, UserOf(head));
  return {head, n};
}

// DEPOT-XFER: a batch in the thread's hand joins spare cls, in front: its
// last block, `last`, is linked to the spare's first. `last` null: the
// batch already ends in nullptr and the spare is empty.
void StashBatch(ThreadCache& tc, std::size_t cls, Batch batch, Block* last) noexcept {
  CONCALLOC_TRACE_EVENT(trace::kStash, tc.client.trace, cls, 0, batch.count, UserOf(batch.head));
  CONCALLOC_ASSERT(last != nullptr || tc.spare[cls] == nullptr, "INV-SPARE", batch.head,
                   "a batch stashed without its last block onto a non-empty spare");
  if (last != nullptr) SetLink(last, cls, tc.spare[cls]);
  tc.spare[cls] = batch.head;
  tc.nspare[cls] += batch.count;
}

// DEPOT-PUT, DEPOT-BUDGET: a batch in the thread's hand, out of its cache:
// to the depot, or (refused, or no depot) to the backend.
void HandOut(ThreadCache& tc, std::size_t cls, Batch batch, bool depot) noexcept {
  if (depot && DepotPut(cls, batch, tc.client)) {
    tc.to_depot[cls] += batch.count;
  } else {
    GiveBackRefused(tc, cls, batch);
    tc.flushed[cls] += batch.count;
  }
}

// DEPOT-XFER: the whole spare cls to the depot as one batch (or, refused or
// without the depot, to the backend).
void SpareOut(ThreadCache& tc, std::size_t cls, bool depot) noexcept {
  if (tc.nspare[cls] == 0) return;
  HandOut(tc, cls, TakeFromSpare(tc, cls, tc.nspare[cls]), depot);
}

// DEPOT-EXIT (to_depot) or FLUSH-1: empties every list, each as one batch to
// the depot when it takes it, else to the backend; and every spare the same
// way (DEPOT-XFER).
void DrainBins(ThreadCache& tc, bool to_depot) noexcept {
  const bool depot = to_depot && DepotBudgetBytes() > 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    if (kMutant != kMutantSpareLost || !to_depot) SpareOut(tc, c, depot);
    const std::uint32_t count = tc.limit[c] - Room(tc, c);
    if (count == 0) continue;
    if (!depot) {
      FlushList(tc, c);
      continue;
    }
    const Batch batch{Head(tc, c), count};
    MarkSegment(batch.head, nullptr, 0);  // DEPOT-SEGMENT: its end is not known
    SetHead(tc, c, nullptr);
    SetRoom(tc, c, tc.limit[c]);
    CONCALLOC_TRACE_EVENT(trace::kDrain, tc.client.trace, c, 0, count, UserOf(batch.head));
    HandOut(tc, c, batch, true);
  }
}

// DEPOT-SPILL: list cls is full; its top SpillCount(limit) blocks leave it
// for the spare (DEPOT-XFER), which goes to the depot as one batch (or,
// refused, to the backend) once it holds xfer[cls] blocks, and xfer[cls]
// doubles, up to XferMax. Returns false when the depot is off (depth 0 or
// budget 0): then nothing moves (CACHE-3).
bool SpillBatch(ThreadCache& tc, std::size_t cls) noexcept {
  if (tc.limit[cls] == 0 || DepotBudgetBytes() == 0) return false;
  const std::uint32_t n = SpillCount(tc.limit[cls]);
  Block* head = Head(tc, cls);
  Block* last = head;
  for (std::uint32_t k = 1; k < n; ++k) last = NextCached(last, cls);  // CHK-LIST
  SetHead(tc, cls, NextCached(last, cls));
  SetRoom(tc, cls, Room(tc, cls) + n);
  CONCALLOC_TRACE_EVENT(trace::kSpill, tc.client.trace, cls, 0, n, UserOf(head));
  MarkSegment(head, last, kMutant == kMutantSegmentMiscount ? n + 1 : n);  // DEPOT-SEGMENT
  StashBatch(tc, cls, {head, n}, last);
  if (tc.nspare[cls] >= tc.xfer[cls] && kMutant != kMutantSpareUnbounded) {
    if (Alone() && kMutant != kMutantAloneIgnored) {
      // DEPOT-ALONE: no other cache could take the batch; its blocks go to
      // their spans now, while the spill has them in cache, rather than
      // cold when the depot evicts them.
      SpareOut(tc, cls, false);
      return true;
    }
    // The next transfer doubles when the thread's shard still holds two
    // batches of the class (its takers are behind: the flow backs up; Bonwick
    // and Adams grow magazines while the depot is contended), up to XferMax
    // and to a batch of at most 1 / kXferBudgetShare of the budget (one the
    // depot can hold among others). A flow whose takers keep up keeps its
    // batches small, and its blocks hot.
    const std::uint32_t most = XferMax(cls, tc.limit[cls]);
    const std::uint32_t next = tc.xfer[cls] < most / 2 ? tc.xfer[cls] * 2 : most;
    if (BatchBytes(cls, next) <= DepotBudgetBytes() / kXferBudgetShare &&
        DepotBacklog(cls, tc.client) && kMutant != kMutantXferFixed)
      tc.xfer[cls] = next;
    SpareOut(tc, cls, true);
  }
  return true;
}

// DEPOT-REFILL: list cls is empty; it refills from its spare (DEPOT-XFER),
// else from a batch taken from the depot, whose rest the spare keeps (up to
// SpareLimit; what is left past that goes back to the depot or to the
// backend). A batch taken resets xfer[cls]: this thread takes blocks of the
// class, so it is not one that only gives them.
bool RefillFromDepot(ThreadCache& tc, std::size_t cls) noexcept {
  if (tc.limit[cls] == 0) return false;
  const std::uint32_t room = Room(tc, cls);
  Batch batch{nullptr, 0};
  if (tc.nspare[cls] > 0) {
    batch = TakeFromSpare(tc, cls, room);
    CONCALLOC_TRACE_EVENT(trace::kRefill, tc.client.trace, cls, 0, batch.count,
                          UserOf(batch.head));
  } else {
    if (DepotBudgetBytes() == 0) return false;
    batch = DepotTake(cls, tc.client);
    if (batch.head == nullptr) return false;
    tc.xfer[cls] = SpillCount(tc.limit[cls]);
    Batch rest{nullptr, 0};
    const std::uint32_t whole = batch.count;
    batch.count = CutChain(batch.head, whole, room, cls, &rest.head);  // DEPOT-SEGMENT
    rest.count = whole - batch.count;
    CONCALLOC_TRACE_EVENT(trace::kRefill, tc.client.trace, cls, 0, batch.count,
                          UserOf(batch.head));
    if (rest.count > 0) {
      // The spare is empty here: the rest becomes it, cut to SpareLimit (a
      // batch longer than this list and spare was made by a thread with a
      // larger depth; its tail never joins this cache, so it is not in
      // INV-STATS).
      Batch beyond{nullptr, 0};
      rest.count = CutChain(rest.head, rest.count, SpareLimit(cls, tc.limit[cls]), cls,
                            &beyond.head);
      beyond.count = whole - batch.count - rest.count;
      StashBatch(tc, cls, rest, nullptr);
      if constexpr (kMutant != kMutantStats) tc.refilled[cls] += rest.count;
      if (beyond.count > 0 && !DepotPut(cls, beyond, tc.client))
        GiveBackRefused(tc, cls, beyond);
    }
    if constexpr (kMutant != kMutantStats) tc.refilled[cls] += batch.count;
  }
  SetHead(tc, cls, batch.head);
  SetRoom(tc, cls, room - batch.count);
  return true;
}

// LIFE-1, LIFE-3: flush the calling thread's cache and never make another.
void TearDownCallingThread() noexcept {
  ThreadCache* tc = tl_state == CacheState::kLive ? tl_cache : nullptr;
  tl_state = CacheState::kDead;
  tl_cache = &g_no_cache;
  abi_v4::tl_front = nullptr;  // INLINE-2
  if (tc != nullptr) {
    const std::size_t caches_left = Unregister(tc);  // LIFE-6
    platform::ReleaseLifeToken(tc->token);
    if constexpr (kMutant != kMutantLeakAtExit) DrainBins(*tc, true);  // DEPOT-EXIT
    CONCALLOC_TRACE_EVENT(trace::kExit, tc->client.trace, 0, 0, 0, nullptr);
    RetireCounts(tc->client);  // DEPOT-COUNTS
    DeleteCacheMemory(tc);
    QuietDepot(caches_left);
  }
}

void OnThreadExit(void* cache) noexcept {
  if (tl_state == CacheState::kLive && tl_cache == cache) TearDownCallingThread();
}

// LIFE-3: exit() runs no key destructor for the thread that calls it; this
// runs among the static destructors. When a leak checker may look (a
// sanitizer runtime, or Valgrind), it returns that thread's cache, reaps the
// dead threads' (LIFE-6) and empties the depot, so that nothing the library
// holds outlives the process's last destructor; frees from later
// destructors then take the static path. Otherwise the process ends with
// its caches, as glibc's ends with its own: no page is touched to free
// memory the system is about to take back (MALLOC-LEAN).
__attribute__((destructor)) void AtProcessExit() {
  if (g_exit_report != nullptr) g_exit_report();  // MALLOC-STATS, before teardown
  if (!san::LeakCheckerMayLook()) return;
  TearDownCallingThread();
  ReapOrphans(kReapAll);  // LIFE-6
  DepotTrim();
}

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
// hold), the first n - 1 on the empty list cls as cached blocks, the last
// returned live for a request of `requested` bytes; nullptr when the heap
// got none. The miss's own block is the last carved, so the block the
// thread goes on using lies beyond the list's, not next to a block that
// another thread may still be using (the demo saw two threads' blocks share
// a cache line when each miss took one block). Without a cache (tc null),
// one block.
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

// SAN-DIRECT: in tool mode every block is an aligned block (HDR-1) of
// exactly the requested bytes (word: the requested size), whose header lies
// kToolOffset bytes (or the alignment) into its backend block: never in the
// first 16 bytes, which the tools' allocators may overwrite once the block
// is freed (ASan keeps its free stack there), so a double free still finds
// the header and the tool reports it.
constexpr std::size_t kToolOffset = 32;
static_assert(kToolOffset > kAlignment && kToolOffset >= 2 * kLargeHeader, "SAN-DIRECT");

template <bool kThrows>
CONCALLOC_NOINLINE void* ToolAlloc(std::size_t size, std::size_t alignment) noexcept(!kThrows) {
  const std::size_t offset = alignment > kToolOffset ? alignment : kToolOffset;
  const std::size_t max = static_cast<std::size_t>(PTRDIFF_MAX);
  if (offset > max / 4 || size > max - 2 * offset) return Fail(kThrows);  // ALLOC-3
  const Backend& backend = CurrentBackend();
  std::size_t span = size;
  char* raw;
  if (alignment > kAlignment) {
    span = (size + offset - 1) & ~(offset - 1);  // the backend's contract
    raw = static_cast<char*>(backend.alloc_aligned(offset, offset + span));
  } else {
    raw = static_cast<char*>(backend.alloc(offset + size));
  }
  if (CONCALLOC_UNLIKELY(raw == nullptr)) return Fail(kThrows);  // ALLOC-4
  Block* h = BlockOf(raw + offset);
  StoreHeader(h, kKindAligned, kStateLive, static_cast<std::uint64_t>(__builtin_ctzll(offset)), size);
  // CHK-FILL: in tool mode too, every usable byte (the requested ones,
  // SAN-USABLE) is 0xCD when handed out; memcheck then still sees them as
  // undefined (ToolBlockOut marks them after the fill).
  if constexpr (kChecked) FillUser(h, size, kFillLive);
  san::ToolBlockOut(raw, UserOf(h), size, span);
  return UserOf(h);
}

// SAN-DIRECT, CHK-FOREIGN: the backend block of a tool-mode block h, or
// nullptr when h is not one: its header is not a live tool-mode block's
// (checked builds), or the tool's allocator began no block where the header
// says (ASan). A freed block's header stays as it was (kToolOffset), so a
// double free reaches the tool, which reports it.
char* ToolRawOf(const Block* h) noexcept {
  constexpr bool kCheck = kMutant != kMutantToolForeign;
  const Tag tag = ReadTag(h);
  if (kCheck && kChecked && (!tag.ok || tag.kind != kKindAligned || tag.state != kStateLive))
    return nullptr;
  const std::size_t offset = tag.kind == kKindAligned && tag.aux >= 5 && tag.aux < 63
                                 ? std::size_t{1} << tag.aux
                                 : kToolOffset;
  char* raw = const_cast<char*>(static_cast<const char*>(UserOf(h))) - offset;
  if (kCheck && !san::ToolBlockStart(raw)) return nullptr;
  return raw;
}

CONCALLOC_COLD void ToolForeign(const void* p, const char* what) noexcept {
  Die("CHK-FOREIGN", p, what);
}

void ToolFree(Block* h) noexcept {
  char* raw = ToolRawOf(h);
  if (raw == nullptr)
    ToolForeign(UserOf(h), "free of a pointer that Alloc never returned (tool mode: no block of "
                           "the tool's allocator has this header)");
  san::ToolBlockIn(UserOf(h));
  CurrentBackend().free(raw);
}

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

template <bool kThrows>
void* AllocLargeBody(std::size_t size) noexcept(!kThrows) {
  if (san::ToolMode()) return ToolAlloc<kThrows>(size, kAlignment);  // SAN-DIRECT
  constexpr bool fail_throws = kThrows;
  // ALLOC-3: sizes whose header would overflow, or above PTRDIFF_MAX.
  if (size > static_cast<std::size_t>(PTRDIFF_MAX) - kLargeHeader) return Fail(fail_throws);
  void* raw = CurrentBackend().alloc(size + kLargeHeader);  // SIZE-2
  if (CONCALLOC_UNLIKELY(raw == nullptr)) return Fail(fail_throws);  // ALLOC-4
  if (ThreadCache* tc = LiveCache()) tc->backend_allocs += 1;
  Block* h = BlockAtRaw(raw);
  StoreHeader(h, kKindLarge, kStateLive, 0,
              kMutant == kMutantLargeSize ? size + kLargeHeader : size);
  if constexpr (kChecked) FillUser(h, size, kFillLive);
  san::BlockOut(HeaderAt(h), UserOf(h), size, size);  // SAN-LIVE
  return UserOf(h);
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
    if constexpr (kChecked) StoreHeader(h, tag.kind, kStateFreed, 0, tag.word);
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
  if constexpr (kChecked) StoreHeader(h, tag.kind, kStateFreed, tag.aux, tag.word);
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

std::size_t ToolUsableSize(const void* p) noexcept {
  const Block* h = BlockOf(p);
  const char* raw = ToolRawOf(h);
  if (raw == nullptr)
    ToolForeign(p, "UsableSize of a pointer that Alloc never returned (tool mode: no block of "
                   "the tool's allocator has this header)");
  san::ToolCheckOwned(raw, p);  // SAN-DIRECT: a freed block, reported by the tool
  return LoadWord(h);           // SAN-USABLE: the requested size
}

void ForgedLink(const Block* h) noexcept {
  Die("HARD-LINK", UserOf(h),
      "a freed block's list link was overwritten (it does not decode with the key)");
}

// ---- Checked builds (CHK-*) ----

namespace {
// CHK-LIST: h's header says "cached, class cls", with its check right; and
// its link is aligned.
void VerifyCachedHeader(const Block* h, std::size_t cls) noexcept {
  const Tag tag = ReadTag(h);
  if (!tag.ok || tag.state != kStateCached || tag.kind != cls)
    Die("CHK-LIST", UserOf(h), "a cached block's header was overwritten (corrupt cache list)");
  if ((reinterpret_cast<std::uintptr_t>(DecodeLink(tag.word)) & (kAlignment - 1)) != 0)
    Die("CHK-LIST", UserOf(h), "a cached block's list link was overwritten (corrupt cache list)");
}

// CHK-WAF: h's caller bytes still hold the 0xDD fill.
void VerifyCachedFill(const Block* h, std::size_t cls) noexcept {
  if constexpr (kMutant != kMutantWriteAfterFree) {
    const unsigned char* bad = FirstByteNot(UserOf(h), UserBytes(cls), kFillCached);
    if (bad != nullptr)
      Die("CHK-WAF", bad, "write after free: the 0xDD fill of a cached block was changed");
  }
}
}  // namespace

void CheckedVerifyCached(const Block* h, std::size_t cls) noexcept {
  VerifyCachedHeader(h, cls);
  VerifyCachedFill(h, cls);
}

Block* CheckedFollow(const Block* h, std::size_t cls) noexcept {
  VerifyCachedHeader(h, cls);
  return DecodeLink(LoadWord(h));
}

Block* CheckedToBackend(Block* h, std::size_t cls) noexcept {
  san::PeekBegin(UserOf(h), UserBytes(cls));  // still cached (SAN-CACHED)
  CheckedVerifyCached(h, cls);
  san::PeekEnd(UserOf(h), UserBytes(cls));
  const std::uint64_t word = LoadWord(h);
  StoreHeader(h, cls, kStateFreed, 0, word);
  return DecodeLink(word);
}

Block* CheckedTakeFromList(Block* h, std::size_t cls, std::size_t requested) noexcept {
  CheckedVerifyCached(h, cls);
  Block* next = DecodeLink(LoadWord(h));
  StoreHeader(h, cls, kStateLive, 0, requested);
  FillUser(h, UserBytes(cls), kFillLive);
  return next;
}

std::uint64_t CheckedKindOfFreed(const void* p) noexcept {
  if (san::ToolMode()) return kKindAligned;  // SAN-DIRECT: the tool checks Free
  if ((reinterpret_cast<std::uintptr_t>(p) & (kAlignment - 1)) != 0)
    Die("CHK-FOREIGN", p, "free of a pointer that Alloc never returned (misaligned)");
  const Tag tag = ReadTag(BlockOf(p));
  if (!tag.ok)
    Die("CHK-FOREIGN", p,
        "free of a pointer that Alloc never returned (no concalloc header; or the header was "
        "overwritten)");
  if (tag.state == kStateCached && kMutant != kMutantDoubleFree)
    Die("CHK-DOUBLE", p, "double free: the block is already in a thread cache");
  if (tag.state == kStateFreed) Die("CHK-DOUBLE", p, "double free: the block was given back");
  if ((tag.state != kStateLive && tag.state != kStateCached) ||
      (tag.kind >= kNumClasses && tag.kind != kKindLarge && tag.kind != kKindAligned))
    Die("CHK-FOREIGN", p, "free of a pointer whose header is not a live block");
  return tag.kind;
}

void CheckedPutOnList(Block* h, std::size_t cls, const Block* next) noexcept {
  FillUser(h, UserBytes(cls), kFillCached);
  StoreHeader(h, cls, kStateCached, 0, EncodeLink(next));
}

// LIFE-4, LIFE-6: the child's only thread keeps its cache, and takes its
// life token anew; the registry holds that cache alone (the parent's other
// threads' caches are stranded: never reaped), and its lock is free.
void RegistryAfterForkInChild() noexcept {
  RenewInChild(g_registry_lock);
  g_registry.head = nullptr;
  g_registry.cursor = nullptr;
  g_registry.live.store(0, std::memory_order_relaxed);
  if (tl_state == CacheState::kLive) {
    g_registry.live.store(1, std::memory_order_relaxed);
    ThreadCache* tc = tl_cache;
    platform::RenewLifeTokenInChild(tc->token);
    tc->prev = tc->next = nullptr;
    g_registry.head = tc;
  }
}

// ---- Flush, stats, validation ----

void FlushCache() noexcept {
  if (tl_state != CacheState::kLive) return;
  DrainBins(*tl_cache, false);
  ResetBins(*tl_cache);  // CONF-DEPTH: a flushed cache takes the current depth
  RunInvariantWalk();
}

void TrimAll() noexcept {
  FlushCache();
  ReapOrphans(kReapAll);  // LIFE-6
  DepotTrim();  // DEPOT-TRIM
  HeapTrim();   // HEAP-RETURN: the kept spans too
}

ThreadStats CacheStats() noexcept {
  ThreadStats s{};
  if (tl_state != CacheState::kLive) return s;
  const ThreadCache& tc = *tl_cache;
  s.alloc_hits = tc.hits;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const std::size_t count = tc.limit[c] - Room(tc, c) + tc.nspare[c];  // held(c)
    s.cached_blocks += count;
    s.cached_bytes += count * kClassSize[c];
    s.alloc_hits += PopsOf(tc.room[c]);
    s.flushed_blocks += tc.flushed[c];
    s.depot_blocks_in += tc.refilled[c];
    s.backend_blocks_in += tc.filled[c];
    s.depot_blocks_out += tc.to_depot[c];
  }
  // INV-STATS: the pushes are what came into the lists and spares less what
  // came from elsewhere: what is there, and what left them (popped,
  // flushed, to the depot), less what the depot and the backend put in.
  s.frees_cached = s.cached_blocks + s.alloc_hits + s.flushed_blocks + s.depot_blocks_out -
                   s.depot_blocks_in - s.backend_blocks_in;
  s.alloc_misses = tc.misses;
  s.backend_allocs = tc.backend_allocs;
  s.backend_frees = tc.backend_frees;
  return s;
}

namespace {
constexpr ValidationResult kValid{nullptr, nullptr, nullptr};

ValidationResult CheckInvCacheBound(const ThreadCache& tc, std::size_t c) noexcept {
  if (Room(tc, c) > tc.limit[c] ||
      tc.limit[c] - Room(tc, c) > ListLimit(c, tc.depth, tc.depot))
    return {"INV-CACHE-BOUND", Head(tc, c), "a list holds more blocks than the cache depth"};
  if (tc.nspare[c] > SpareLimit(c, tc.limit[c]))
    return {"INV-CACHE-BOUND", tc.spare[c], "a spare holds more blocks than SpareLimit"};
  return kValid;
}

ValidationResult CheckInvTag(const Block* h, std::size_t c) noexcept {
  if (!CachedHeaderOk(h, c))
    return {"INV-TAG", h, "a cached block is not tagged as cached in its class"};
  return kValid;
}

ValidationResult CheckInvFill(const Block* h, std::size_t c) noexcept {
  if constexpr (kChecked) {
    const void* user = UserOf(h);
    san::PeekBegin(user, UserBytes(c));
    const unsigned char* bad = FirstByteNot(user, UserBytes(c), kFillCached);
    san::PeekEnd(user, UserBytes(c));
    if (bad != nullptr)
      return {"INV-FILL", bad, "a cached block's 0xDD fill was changed (write after free)"};
  }
  return kValid;
}

// Walks list c (at most count + 1 links, so a cycle ends the walk), checking
// INV-TAG and INV-FILL on each block on the way.
ValidationResult CheckInvList(const ThreadCache& tc, std::size_t c) noexcept {
  const std::uint32_t count = tc.limit[c] - Room(tc, c);
  const Block* h = Head(tc, c);
  for (std::uint32_t k = 0; k < count; ++k) {
    if (h == nullptr) return {"INV-LIST", Head(tc, c), "a list is shorter than its count"};
    if ((reinterpret_cast<std::uintptr_t>(h) & (kAlignment - 1)) != 0)
      return {"INV-LIST", h, "a list link is not 16-aligned"};
    // (checked before the tag, whose check covers the link too: HDR-2)
    if ((reinterpret_cast<std::uintptr_t>(PeekLink(h)) & (kAlignment - 1)) != 0)
      return {"INV-LIST", h, "a list link is not 16-aligned"};
    if (ValidationResult r = CheckInvTag(h, c); !r) return r;
    if (ValidationResult r = CheckInvFill(h, c); !r) return r;
    const Block* next = PeekLink(h);
    if (static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(next)) < 0)
      return {"INV-LIST", h, "a list link is not a user-space address"};
    h = next;
  }
  if (h != nullptr) return {"INV-LIST", h, "a list is longer than its count (or has a cycle)"};
  return kValid;
}

// INV-SPARE: spare c is a chain of exactly nspare[c] blocks, each as on a
// list (INV-TAG, INV-FILL), made of segments whose marks are right
// (DEPOT-SEGMENT: a known one ends where its first block says, and one whose
// end is not known is the last), and xfer[c] within its range (DEPOT-XFER).
ValidationResult CheckInvSpare(const ThreadCache& tc, std::size_t c) noexcept {
  if (tc.limit[c] > 0 &&
      (tc.xfer[c] < SpillCount(tc.limit[c]) || tc.xfer[c] > XferMax(c, tc.limit[c])))
    return {"INV-SPARE", &tc.xfer[c], "a transfer unit is out of its range"};
  const Block* h = tc.spare[c];
  std::uint32_t left = 0;             // blocks of the segment before its end
  const Block* seg_last = nullptr;    // that end, when known
  bool unknown = false;               // a segment whose end is not known began
  for (std::uint32_t k = 0; k < tc.nspare[c]; ++k) {
    if (h == nullptr) return {"INV-SPARE", tc.spare[c], "a spare is shorter than its count"};
    if ((reinterpret_cast<std::uintptr_t>(h) & (kAlignment - 1)) != 0 ||
        (reinterpret_cast<std::uintptr_t>(PeekLink(h)) & (kAlignment - 1)) != 0)
      return {"INV-SPARE", h, "a spare's link is not 16-aligned"};
    if (ValidationResult r = CheckInvTag(h, c); !r) return r;
    if (ValidationResult r = CheckInvFill(h, c); !r) return r;
    if (kSegments && !unknown && left == 0) {  // a segment begins here
      bool ok;
      const Segment seg = PeekSegment(h, &ok);
      if (!ok) return {"INV-SPARE", h, "a spare's segment mark does not decode"};
      seg_last = seg.last;
      left = seg.count;
      unknown = left == 0;
    }
    if (kSegments && !unknown && --left == 0 && h != seg_last)
      return {"INV-SPARE", h, "a spare's segment does not end where its first block says"};
    h = PeekLink(h);
  }
  if (kSegments && !unknown && left != 0)
    return {"INV-SPARE", tc.spare[c], "a spare's last segment runs past its count"};
  if (h != nullptr) return {"INV-SPARE", h, "a spare is longer than its count (or has a cycle)"};
  return kValid;
}

// INV-REGISTRY: the registry's links agree both ways, and the calling
// thread's live cache is on it.
ValidationResult CheckInvRegistry() noexcept {
  Locked lock(g_registry_lock);
  bool found = tl_state != CacheState::kLive;
  const ThreadCache* prev = nullptr;
  for (const ThreadCache* tc = g_registry.head; tc != nullptr; prev = tc, tc = tc->next) {
    if (tc->prev != prev) return {"INV-REGISTRY", tc, "a registry link does not agree both ways"};
    found = found || tc == tl_cache;
  }
  if (!found) return {"INV-REGISTRY", tl_cache, "a live cache is not on the registry"};
  return kValid;
}

// INV-STATS: the pushes CacheStats derives are never negative: no more
// blocks left the lists (popped, flushed, to the depot) than came in
// (pushed, refilled, filled). A pop not counted makes them fewer; one
// counted twice, or a refill or fill not counted, makes them more, which
// the model test sees (an Alloc then changes frees_cached). tc is the
// calling thread's cache, whose sums CacheStats makes.
ValidationResult CheckInvStats(const ThreadCache& tc) noexcept {
  const ThreadStats s = CacheStats();
  if (s.cached_blocks + s.alloc_hits + s.flushed_blocks + s.depot_blocks_out <
      s.depot_blocks_in + s.backend_blocks_in)
    return {"INV-STATS", &tc,
            "frees_cached < 0: cached + alloc_hits + flushed + depot_blocks_out < "
            "depot_blocks_in + backend_blocks_in"};
  return kValid;
}
}  // namespace

ValidationResult ValidateCache() noexcept {
  if (tl_state == CacheState::kLive) {
    const ThreadCache& tc = *tl_cache;
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      if (ValidationResult r = CheckInvCacheBound(tc, c); !r) return r;
      if (ValidationResult r = CheckInvList(tc, c); !r) return r;
      if (ValidationResult r = CheckInvSpare(tc, c); !r) return r;
    }
    if (ValidationResult r = CheckInvStats(tc); !r) return r;
  }
  if (ValidationResult r = CheckInvRegistry(); !r) return r;
  if (ValidationResult r = ValidateDepot(); !r) return r;
  const void* address = nullptr;
  if (const char* clause = CheckInvSpan(&address))
    return {clause, address, "a span's record, its class's lists or its free list disagree"};
  return kValid;
}

}  // namespace concalloc::detail
