// A thread cache's statistics (STATS-1, INV-STATS) and its invariant
// checkers (INV-CACHE-BOUND, INV-TAG, INV-FILL, INV-LIST, INV-SPARE,
// INV-STATS; VALIDATE-1), which ValidateCache runs with the registry's,
// the depot's and the heap's.
#include <cstddef>
#include <cstdint>

#include "cache/cache_internal.h"
#include "depot/depot.h"
#include "heap/heap.h"

namespace concalloc::detail {

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
// list (INV-TAG, INV-FILL), listed (INV-LISTED: its list names its k-th
// block at entry nspare[c] - 1 - k) or made of segments whose marks are
// right (DEPOT-SEGMENT: a known one ends where its first block says; after
// one whose end is not known, none is read), and xfer[c] within its range
// (DEPOT-XFER).
ValidationResult CheckInvSpare(const ThreadCache& tc, std::size_t c) noexcept {
  if (tc.limit[c] > 0 &&
      (tc.xfer[c] < SpillCount(tc.limit[c]) || tc.xfer[c] > XferMax(c, tc.limit[c])))
    return {"INV-SPARE", &tc.xfer[c], "a transfer unit is out of its range"};
  const BlockList* list = tc.spare_list[c];
  const bool listed = list != nullptr && tc.nspare[c] > 0 && list->count == tc.nspare[c];
  if (list != nullptr && list->count > kListedMax)
    return {"INV-LISTED", list, "a spare's list is longer than it can be"};
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
    if (listed && list->block[tc.nspare[c] - 1 - k] != h)
      return {"INV-LISTED", h, "a spare's list is not its chain"};
    if (kSegments && !listed && !unknown && left == 0) {  // a segment begins here
      bool ok;
      const Segment seg = PeekSegment(h, &ok);
      if (!ok) return {"INV-SPARE", h, "a spare's segment mark does not decode"};
      seg_last = seg.last;
      left = seg.count;
      unknown = left == 0;
    }
    if (kSegments && !listed && !unknown && --left == 0 && h != seg_last)
      return {"INV-SPARE", h, "a spare's segment does not end where its first block says"};
    h = PeekLink(h);
  }
  if (kSegments && !listed && !unknown && left != 0)
    return {"INV-SPARE", tc.spare[c], "a spare's last segment runs past its count"};
  if (h != nullptr) return {"INV-SPARE", h, "a spare is longer than its count (or has a cycle)"};
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
