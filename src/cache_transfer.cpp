// Blocks between a thread's cache and the depot or the heap: spills to the
// spare and the depot (DEPOT-SPILL, DEPOT-XFER, DEPOT-SEGMENT), refills from them (DEPOT-REFILL), a cache emptied at exit
// (DEPOT-EXIT) or flushed (FLUSH-1), refused batches (DEPOT-BUDGET).
#include <cstddef>
#include <cstdint>

#include "cache_internal.h"
#include "depot.h"
#include "heap.h"

namespace concalloc::detail {

namespace {

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
void HandOut(ThreadCache& tc, std::size_t cls, Batch batch, bool depot, bool hot) noexcept {
  if (depot && DepotPut(cls, batch, tc.client, hot)) {
    tc.to_depot[cls] += batch.count;
  } else {
    GiveBackRefused(tc, cls, batch);
    tc.flushed[cls] += batch.count;
  }
}

// DEPOT-XFER: the whole spare cls to the depot as one batch (or, refused or
// without the depot, to the backend).
void SpareOut(ThreadCache& tc, std::size_t cls, bool depot, bool hot) noexcept {
  if (tc.nspare[cls] == 0) return;
  HandOut(tc, cls, TakeFromSpare(tc, cls, tc.nspare[cls]), depot, hot);
}

// DEPOT-LISTED: spare cls, full after a spill, was gathered just now: its
// class made at least half of this thread's spills since its first (a flow
// of one class; one of many classes gathers its spare slowly, and its first
// blocks have left this core's caches by the time it is full).
bool SpareIsHot(const ThreadCache& tc, std::size_t cls) noexcept {
  const std::uint32_t own = tc.nspare[cls] / SpillCount(tc.limit[cls]);
  return tc.spills - tc.spare_from[cls] <= 2 * own;
}

}  // namespace

// DEPOT-EXIT (to_depot) or FLUSH-1: empties every list, each as one batch to
// the depot when it takes it, else to the backend; and every spare the same
// way (DEPOT-XFER).
void DrainBins(ThreadCache& tc, bool to_depot) noexcept {
  const bool depot = to_depot && DepotBudgetBytes() > 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    if (kMutant != kMutantSpareLost || !to_depot) SpareOut(tc, c, depot, false);
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
    HandOut(tc, c, batch, true, true);  // the thread's own list: hot
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
  if (tc.nspare[cls] == 0) tc.spare_from[cls] = tc.spills;  // DEPOT-LISTED
  tc.spills += 1;
  StashBatch(tc, cls, {head, n}, last);
  if (tc.nspare[cls] >= tc.xfer[cls] && kMutant != kMutantSpareUnbounded) {
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
    SpareOut(tc, cls, true, SpareIsHot(tc, cls));
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

}  // namespace concalloc::detail
