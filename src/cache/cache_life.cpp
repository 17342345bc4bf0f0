// The thread caches' life cycle (LIFE-*): a cache made at a thread's
// first use (LIFE-2), on the registry while it lives (LIFE-6), emptied at
// its thread's exit (LIFE-1, DEPOT-EXIT) or reaped when its thread died
// without that; the process's exit (LIFE-3), the fork child (LIFE-4),
// DEPOT-QUIET, flush (FLUSH-1) and trim (DEPOT-TRIM).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "heap/backend.h"
#include "cache/cache_internal.h"
#include "platform/config.h"
#include "depot/depot.h"
#include "heap/heap.h"
#include "platform/lock.h"

namespace concalloc::detail {

namespace {

// The cache itself comes from the default backend, not the injectable one
// (so tests that count blocks see only blocks), and is reachable from the
// thread's TLS, so leak checkers scan it.
ThreadCache* NewCacheMemory() noexcept {
  void* p = DefaultBackend().alloc_aligned(alignof(ThreadCache), sizeof(ThreadCache));
  return p == nullptr ? nullptr : new (p) ThreadCache{};
}
// HARD-SECRET: the cache's copy of the link key is cleared first: the C
// heap hands the cache's memory out again.
void DeleteCacheMemory(ThreadCache* tc) noexcept {
  *static_cast<volatile std::uint64_t*>(&tc->key) = 0;
  DefaultBackend().free(tc);
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
  std::uint64_t next_serial = 0;  // DepotClient::serial (DEPOT-GROW, DEPOT-LISTED)
  std::size_t live = 0;           // caches on the list (DEPOT-QUIET)
};
Registry g_registry;

void Register(ThreadCache* tc) noexcept {
  Locked lock(g_registry_lock);
  tc->client.shard = g_registry.next_shard++ % kDepotShards;
  tc->client.serial = ++g_registry.next_serial;
  g_registry.live += 1;
  tc->prev = nullptr;
  tc->next = g_registry.head;
  if (tc->next != nullptr) tc->next->prev = tc;
  g_registry.head = tc;
}

// The caller holds the registry lock.
void UnlinkLocked(ThreadCache* tc) noexcept {
  g_registry.live -= 1;
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

// Returns how many caches remain.
std::size_t Unregister(ThreadCache* tc) noexcept {
  Locked lock(g_registry_lock);
  UnlinkLocked(tc);
  return g_registry.live;
}

// DEPOT-QUIET: a process down to one thread that allocates keeps at most
// kQuietKeepBytes in the depot, its oldest batches given back; when that
// gave back kQuietHeapTrimBytes or more to the C heap (spans taken from it,
// not mapped: SpansMapped), the C heap returns its free pages.
// Nothing is kept: blocks scattered over the exited threads' arenas pin a
// page each (256 KiB of 64-byte blocks could pin 16 MiB), and the one thread
// left refills from the backend at CACHE-FILL's pace.
constexpr std::size_t kQuietKeepBytes = 0;
constexpr std::size_t kQuietHeapTrimBytes = 1024 * 1024;
void QuietDepot(std::size_t caches_left) noexcept {
  if (caches_left > 1 || DepotBudgetBytes() == 0 || kMutant == kMutantNoQuiet) return;
  const std::size_t given =
      DepotTrimTo(kQuietKeepBytes) + HeapTrim(CachedSpans::kRelease);  // HEAP-RETURN, HEAP-CACHE
  if (given >= kQuietHeapTrimBytes && &CurrentBackend() == &DefaultBackend() && !SpansMapped())
    platform::HeapTrim();
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
    caches_left = g_registry.live;
  }
  const bool reaped = orphans != nullptr;
  while (orphans != nullptr) {
    ThreadCache* tc = orphans;
    orphans = tc->next;
    DrainBins(*tc, true);
    CONCALLOC_TRACE_EVENT(trace::kExit, tc->client.trace, 0, 0, 0, nullptr);
    RetireCounts(tc->client);  // DEPOT-COUNTS
    ReleaseLists(tc->client);  // DEPOT-LISTED
    DeleteCacheMemory(tc);
  }
  if (reaped) QuietDepot(caches_left);
}
// Each new cache checks this many others, so orphans are found as threads
// come and go, at a bounded cost per thread.
constexpr std::size_t kReapPerNewCache = 2;

}  // namespace

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

namespace {

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
    ReleaseLists(tc->client);  // DEPOT-LISTED
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

}  // namespace

// LIFE-4, LIFE-6: the child's only thread keeps its cache, and takes its
// life token anew; the registry holds that cache alone (the parent's other
// threads' caches are stranded: never reaped), and its lock is free.
void RegistryAfterForkInChild() noexcept {
  RenewInChild(g_registry_lock);
  g_registry.head = nullptr;
  g_registry.cursor = nullptr;
  g_registry.live = 0;
  if (tl_state == CacheState::kLive) {
    g_registry.live = 1;
    ThreadCache* tc = tl_cache;
    platform::RenewLifeTokenInChild(tc->token);
    tc->prev = tc->next = nullptr;
    g_registry.head = tc;
  }
}

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
  HeapTrim(CachedSpans::kUnmap);  // HEAP-RETURN, HEAP-CACHE: the kept and the cached spans too
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
  return {nullptr, nullptr, nullptr};
}

}  // namespace concalloc::detail
