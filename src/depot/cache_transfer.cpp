// Blocks between a thread's cache and the depot or the heap: spills to the
// spare and the depot (DEPOT-SPILL, DEPOT-XFER, DEPOT-SEGMENT), refills from them (DEPOT-REFILL), a cache emptied at exit
// (DEPOT-EXIT) or flushed (FLUSH-1), refused batches (DEPOT-BUDGET).
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "cache/cache_internal.h"
#include "depot/depot.h"
#include "heap/heap.h"

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

// DEPOT-LISTED: spare cls is listed: its list holds its nspare entries.
// (An empty spare is listed only while its list was made for it: at its
// first spill, Listable.)
bool SpareListed(const ThreadCache& tc, std::size_t cls) noexcept {
  const BlockList* list = tc.spare_list[cls];
  return list != nullptr && tc.nspare[cls] > 0 && list->count == tc.nspare[cls];
}

// DEPOT-LISTED: a spare that starts now (empty) is listed when it will go
// out with at least ListedMin(cls) blocks: its transfer unit is that large.
bool Listable(const ThreadCache& tc, std::size_t cls) noexcept {
  return tc.xfer[cls] >= ListedMin(cls);
}

// DEPOT-LISTED: a listed chain is cut by index: entry `at` (its
// (count - 1 - at)-th block) becomes the end of the part before it, and the
// block at entry at - 1, returned, starts the rest (its end unknown:
// DEPOT-SEGMENT). One link written, no walk.
Block* CutListed(const BlockList* list, std::uint32_t at, std::size_t cls) noexcept {
  SetLink(list->block[at], cls, nullptr);
  Block* rest = list->block[at - 1];
  MarkSegment(rest, nullptr, 0);
  return rest;
}

// DEPOT-XFER: up to `most` blocks from the front of spare cls (not empty)
// leave it, to the thread's hand: returned as a batch. A listed spare is
// cut by index (its list keeps the rest's entries); else at a segment's end
// (DEPOT-SEGMENT). Checked builds walk.
Batch TakeFromSpare(ThreadCache& tc, std::size_t cls, std::uint32_t most) noexcept {
  Block* head = tc.spare[cls];
  const std::uint32_t have = tc.nspare[cls];
  BlockList* list = SpareListed(tc, cls) ? tc.spare_list[cls] : nullptr;
  std::uint32_t n;
  if (list != nullptr && !kChecked) {
    n = most < have ? most : have;
    tc.spare[cls] = n < have ? CutListed(list, have - n, cls) : nullptr;
  } else {
    n = CutChain(head, have, most, cls, &tc.spare[cls]);
  }
  if (list != nullptr) list->count = have - n;
  tc.nspare[cls] = have - n;
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
// to the depot, or (refused, or no depot) to the backend. *list: its list
// (DEPOT-LISTED), left to the caller when the batch is refused.
void HandOut(ThreadCache& tc, std::size_t cls, Batch batch, bool depot, BlockList** list) noexcept {
  if (depot && DepotPut(cls, batch, tc.client, list)) {
    tc.to_depot[cls] += batch.count;
  } else {
    GiveBackRefused(tc, cls, batch);
    tc.flushed[cls] += batch.count;
  }
}

// DEPOT-XFER: the whole spare cls to the depot as one batch, with its list
// when it is listed (or, refused or without the depot, to the backend; the
// list then stays the spare's, emptied).
void SpareOut(ThreadCache& tc, std::size_t cls, bool depot) noexcept {
  if (tc.nspare[cls] == 0) return;
  BlockList* list = nullptr;
  if (SpareListed(tc, cls)) {
    list = tc.spare_list[cls];
    tc.spare_list[cls] = nullptr;
  }
  const Batch batch{tc.spare[cls], tc.nspare[cls]};
  tc.spare[cls] = nullptr;
  tc.nspare[cls] = 0;
  CONCALLOC_TRACE_EVENT(trace::kUnstash, tc.client.trace, cls, 0, batch.count,
                        UserOf(batch.head));
  HandOut(tc, cls, batch, depot, &list);
  if (list != nullptr) {  // refused: its blocks went to the backend
    ForgetListed(list, 0, list->count);  // SAN-LEAK
    list->count = 0;
    if (tc.spare_list[cls] == nullptr)
      tc.spare_list[cls] = list;
    else
      DropList(tc.client, list);
  }
}

}  // namespace

// DEPOT-EXIT (to_depot) or FLUSH-1: empties every list, each as one batch to
// the depot when it takes it, else to the backend; and every spare the same
// way (DEPOT-XFER). The spares' lists go with them, or back (DropList).
void DrainBins(ThreadCache& tc, bool to_depot) noexcept {
  const bool depot = to_depot && DepotBudgetBytes() > 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    if (kMutant != kMutantSpareLost || !to_depot) SpareOut(tc, c, depot);
    DropList(tc.client, tc.spare_list[c]);
    tc.spare_list[c] = nullptr;
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
    BlockList* list = ListChain(tc.client, batch, c);  // DEPOT-LISTED: the blocks at hand
    HandOut(tc, c, batch, true, &list);
    DropList(tc.client, list);  // refused
  }
}

// DEPOT-SPILL: list cls is full; its top SpillCount(limit) blocks leave it
// for the spare (DEPOT-XFER), which goes to the depot as one batch (or,
// refused, to the backend) once it holds xfer[cls] blocks, and xfer[cls]
// doubles, up to XferMax; a listed spare also goes before a spill would
// take it past its list's kListedMax. The spill's walk writes its blocks'
// addresses into a listed spare's list (DEPOT-LISTED). Returns false when
// the depot is off (depth 0 or budget 0): then nothing moves (CACHE-3).
bool SpillBatch(ThreadCache& tc, std::size_t cls) noexcept {
  if (tc.limit[cls] == 0 || DepotBudgetBytes() == 0) return false;
  const std::uint32_t n = SpillCount(tc.limit[cls]);
  if (SpareListed(tc, cls) && tc.nspare[cls] + n > kListedMax && kMutant != kMutantSpareUnbounded)
    SpareOut(tc, cls, true);
  BlockList* list = nullptr;  // the list this spill writes (a spare left unlisted: none)
  if (tc.nspare[cls] == 0) {
    if (Listable(tc, cls) && n <= kListedMax) {
      if (tc.spare_list[cls] == nullptr) tc.spare_list[cls] = NewList(tc.client);
      list = tc.spare_list[cls];
    }
  } else if (SpareListed(tc, cls) && tc.nspare[cls] + n <= kListedMax) {
    list = tc.spare_list[cls];
  }
  if (list == nullptr && tc.spare_list[cls] != nullptr) {  // the spare is not listed now
    ForgetListed(tc.spare_list[cls], 0, tc.spare_list[cls]->count);  // SAN-LEAK
    tc.spare_list[cls]->count = 0;
  }
  Block* head = Head(tc, cls);
  Block* last = head;
  if (list != nullptr) {
    // INV-LISTED: spill block k at entry nspare + n - 1 - k, in front.
    Block** entry = list->block + tc.nspare[cls] + n - 1;
    *entry = head;
    for (std::uint32_t k = 1; k < n; ++k) {
      last = NextCached(last, cls);  // CHK-LIST
      *--entry = last;
    }
    if constexpr (kMutant == kMutantListedSkewed) {  // MUT-1: two entries swapped
      if (n > 1) {
        Block* const top = list->block[tc.nspare[cls] + n - 1];
        list->block[tc.nspare[cls] + n - 1] = list->block[tc.nspare[cls] + n - 2];
        list->block[tc.nspare[cls] + n - 2] = top;
      }
    }
    list->count = tc.nspare[cls] + n;
  } else {
    for (std::uint32_t k = 1; k < n; ++k) last = NextCached(last, cls);  // CHK-LIST
  }
  SetHead(tc, cls, NextCached(last, cls));
  SetRoom(tc, cls, Room(tc, cls) + n);
  CONCALLOC_TRACE_EVENT(trace::kSpill, tc.client.trace, cls, 0, n, UserOf(head));
  MarkSegment(head, last, kMutant == kMutantSegmentMiscount ? n + 1 : n);  // DEPOT-SEGMENT
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
    SpareOut(tc, cls, true);
  }
  return true;
}

// DEPOT-REFILL: list cls is empty; it refills from its spare (DEPOT-XFER),
// else from a batch taken from the depot, whose rest the spare keeps (up to
// SpareLimit; what is left past that goes back to the depot or to the
// backend). A batch taken resets xfer[cls]: this thread takes blocks of the
// class, so it is not one that only gives them. A listed batch is cut by
// index and its list becomes the spare's (DEPOT-LISTED).
bool RefillFromDepot(ThreadCache& tc, std::size_t cls) noexcept {
  if (tc.limit[cls] == 0) return false;
  const std::uint32_t room = Room(tc, cls);
  Batch batch{nullptr, 0};
  if (tc.nspare[cls] > 0) {
    const std::uint32_t had = tc.nspare[cls];
    const bool listed = SpareListed(tc, cls);
    batch = TakeFromSpare(tc, cls, room);
    if (listed) ForgetListed(tc.spare_list[cls], had - batch.count, had);  // SAN-LEAK
    CONCALLOC_TRACE_EVENT(trace::kRefill, tc.client.trace, cls, 0, batch.count,
                          UserOf(batch.head));
  } else {
    if (DepotBudgetBytes() == 0) return false;
    BlockList* list = nullptr;
    BlockList* empty = tc.spare_list[cls];  // the spare is empty: its list is not needed
    batch = DepotTake(cls, tc.client, &list, &empty);
    tc.spare_list[cls] = empty;  // kept when nothing was taken
    if (batch.head == nullptr) return false;
    DropList(tc.client, tc.spare_list[cls]);
    tc.spare_list[cls] = list;  // the rest's (DEPOT-LISTED)
    tc.xfer[cls] = SpillCount(tc.limit[cls]);
    const std::uint32_t whole = batch.count;
    const std::uint32_t keep = SpareLimit(cls, tc.limit[cls]);
    if (list != nullptr) {
      // DEPOT-LISTED: every block of the batch, prefetched for writing at
      // once: another core wrote them, and the list and the spare pop them
      // next (a window at a time cost xmalloc's shape a sixth of its rate).
      Bump(tc.client.counts.blocks_prefetched, PrefetchListed(list, 0, whole, cls));  // DEPOT-COUNTS
    }
    Batch rest{nullptr, 0}, beyond{nullptr, 0};
    if (list != nullptr && !kChecked) {
      // INV-LISTED: the batch's k-th block is entry whole - 1 - k.
      batch.count = room < whole ? room : whole;
      rest.count = whole - batch.count;
      beyond.count = rest.count > keep ? rest.count - keep : 0;
      rest.count -= beyond.count;
      if (rest.count > 0) rest.head = CutListed(list, beyond.count + rest.count, cls);
      if (beyond.count > 0) beyond.head = CutListed(list, beyond.count, cls);
    } else {
      batch.count = CutChain(batch.head, whole, room, cls, &rest.head);  // DEPOT-SEGMENT
      rest.count = whole - batch.count;
      if (rest.count > 0) {
        rest.count = CutChain(rest.head, rest.count, keep, cls, &beyond.head);
        beyond.count = whole - batch.count - rest.count;
      }
    }
    if (list != nullptr) {
      // The spare's list: the rest's entries, moved down past the beyond's.
      ForgetListed(list, beyond.count + rest.count, whole);  // SAN-LEAK: going live
      if (beyond.count > 0) {
        for (std::uint32_t k = 0; k < rest.count; ++k)
          list->block[k] = list->block[beyond.count + k];
        ForgetListed(list, rest.count, rest.count + beyond.count);
      }
      list->count = rest.count;
    }
    CONCALLOC_TRACE_EVENT(trace::kRefill, tc.client.trace, cls, 0, batch.count,
                          UserOf(batch.head));
    if (rest.count > 0) {
      // The spare is empty here: the rest becomes it (a batch longer than
      // this list and spare was made by a thread with a larger depth; its
      // tail, beyond, never joins this cache, so it is not in INV-STATS).
      StashBatch(tc, cls, rest, nullptr);
      if constexpr (kMutant != kMutantStats) tc.refilled[cls] += rest.count;
      BlockList* none = nullptr;
      if (beyond.count > 0 && !DepotPut(cls, beyond, tc.client, &none))
        GiveBackRefused(tc, cls, beyond);
    }
    if constexpr (kMutant != kMutantStats) tc.refilled[cls] += batch.count;
  }
  SetHead(tc, cls, batch.head);
  SetRoom(tc, cls, room - batch.count);
  return true;
}

}  // namespace concalloc::detail
