// The depot's rare paths: DEPOT-TRIM (Trim, DEPOT-QUIET), DEPOT-COUNTS and
// the statistics, the checker (INV-DEPOT, INV-DEPOT-BOUND) and the fork
// child (LIFE-4). The protocol is in depot.cpp.
#include "depot/depot.h"

#include <atomic>

#include "heap/backend.h"
#include "modes/checked.h"
#include "platform/config.h"
#include "depot/depot_shard.h"
#include "heap/heap.h"
#include "platform/lock.h"
#include "platform/platform.h"

namespace concalloc {
namespace detail {

namespace {
// Up to `want` bytes of the oldest batches of one shard, unlinked; the
// caller frees them (FreeRecords) after the lock.
BatchRecord* TakeOldest(Shard& s, std::size_t cls, std::size_t want, std::size_t* got,
                        bool trimming, BlockList** lists = nullptr) {
  BatchRecord* list = nullptr;
  *got = 0;
  bool contended;
  ShardLocked lock(s, &contended);
  DepotCounts n;  // DEPOT-COUNTS: no thread's client; the process's counts
  Account(n, contended);
  CONCALLOC_TRACE_ORDERED();  // TRACE-ORDER
  while (*got < want && s.oldest != nullptr) {
    BatchRecord* r = UnlinkLocked(s, cls, /*oldest=*/true);
    const std::size_t bytes = BatchBytes(cls, r->batch.count);
    CONCALLOC_TRACE_EVENT(trace::kTrim, trace::kNoCache, cls,
                          static_cast<std::uint32_t>(&s - g_shards[cls]), r->batch.count,
                          UserOf(r->batch.head));
    *got += bytes;
    if (trimming) g_blocks_trimmed.fetch_add(r->batch.count, std::memory_order_relaxed);
    r->older = list;
    list = r;
  }
  // DEPOT-CREDIT: the shard's credit goes back with its batches.
  const std::size_t credit = s.credit.load(std::memory_order_relaxed);
  Rsv rsv{n};
  if (*got + credit > 0) ReleaseBytes(rsv, *got + credit);
  s.credit.store(0, std::memory_order_relaxed);
  TraceCredit(s, cls, rsv, nullptr);
  AddInto(g_retired, n);
  if (trimming && s.oldest == nullptr) {  // the shard is empty: its records too
    if (lists != nullptr) {  // and its lists (DEPOT-LISTED)
      *lists = s.free_lists;
      s.free_lists = nullptr;
    }
    while (BatchRecord* r = s.free_records) {
      s.free_records = r->older;
      r->batch = {nullptr, 0};
      r->older = list;
      list = r;
    }
  }
  return list;
}
}  // namespace

void DepotTrim() noexcept {
  ResetDepotGrowth();  // DEPOT-GROW: first, so that no put fills the grown budget again
  // Every shard (its batches, and the records it keeps), one lock at a time.
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (Shard& s : g_shards[c]) {
      if (!s.used.load(std::memory_order_relaxed)) continue;
      std::size_t got;
      BlockList* lists = nullptr;
      BatchRecord* list = TakeOldest(s, c, ~std::size_t{0}, &got, true, &lists);
      FreeRecords(list, c);
      while (lists != nullptr) {
        BlockList* next = lists->next_free;
        DefaultBackend().free(lists);
        lists = next;
      }
    }
  }
  SettleBudgetCeiling();  // INV-DEPOT-BOUND
}

std::size_t DepotTrimTo(std::size_t keep) noexcept {
  ResetDepotGrowth();  // DEPOT-GROW (DEPOT-QUIET, SetDepotBudget)
  // Oldest first, across classes and shards: in rounds, each shard that
  // holds a batch gives its oldest one back, until the depot holds at most
  // `keep` (or nothing is left to give).
  std::size_t given = 0;
  DepotCounts n;  // DEPOT-CREDIT: the credits first (they hold no memory)
  CollectCredits(nullptr, n);
  AddInto(g_retired, n);
  const auto reserved = [] { return Reserved(g_depot_bytes.load(std::memory_order_relaxed)); };
  for (bool any = true; any && reserved() > keep;) {
    any = false;
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      for (Shard& s : g_shards[c]) {
        if (reserved() <= keep) {
          SettleBudgetCeiling();  // INV-DEPOT-BOUND
          return given;
        }
        if (s.nbatches.load(std::memory_order_relaxed) == 0) continue;
        std::size_t got;
        BatchRecord* list = TakeOldest(s, c, 1, &got, true);  // one batch
        given += got;
        any = any || got > 0;
        FreeRecords(list, c);
      }
    }
  }
  SettleBudgetCeiling();  // INV-DEPOT-BOUND
  return given;
}

namespace {
void AddCountsOf(GlobalStats& s, const DepotCounts& n) noexcept {
  s.batches_put += n.batches_put.load(std::memory_order_relaxed);
  s.batches_taken += n.batches_taken.load(std::memory_order_relaxed);
  s.batches_refused += n.batches_refused.load(std::memory_order_relaxed);
  s.batches_evicted += n.batches_evicted.load(std::memory_order_relaxed);
  s.blocks_moved += n.blocks_moved.load(std::memory_order_relaxed);
  s.blocks_prefetched += n.blocks_prefetched.load(std::memory_order_relaxed);
  s.lock_acquisitions += n.acquisitions.load(std::memory_order_relaxed);
  s.lock_contended += n.contended.load(std::memory_order_relaxed);
  s.budget_rmws += n.budget_rmws.load(std::memory_order_relaxed);
}
}  // namespace

void AddCounts(GlobalStats& s, const DepotClient& client) noexcept { AddCountsOf(s, client.counts); }

void RetireCounts(const DepotClient& client) noexcept { AddInto(g_retired, client.counts); }

GlobalStats DepotStats() noexcept {
  GlobalStats s{};
  s.depot_budget = DepotBudgetBytes();
  s.depot_budget_growths = DepotBudgetGrowths();
  s.batch_record_bytes = sizeof(BatchRecord);
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (Shard& sh : g_shards[c]) {
      if (!sh.used.load(std::memory_order_relaxed)) continue;
      bool contended;
      ShardLocked lock(sh, &contended);
      const std::size_t nbatches = sh.nbatches.load(std::memory_order_relaxed);
      s.depot_bytes += sh.bytes;
      s.depot_blocks += (sh.bytes - nbatches * sizeof(BatchRecord)) / kClassSize[c];
      s.depot_batches += nbatches;
    }
  }
  // DEPOT-COUNTS: the exited threads' and the rare paths', then the live
  // threads' (a thread exiting meanwhile is counted once it has exited).
  AddCountsOf(s, g_retired);
  s.blocks_trimmed = g_blocks_trimmed.load(std::memory_order_relaxed);
  AddLiveCounts(s);
  const HeapCounts h = GetHeapCounts();  // HEAP-SPAN
  s.heap_spans = h.spans;
  s.heap_span_bytes = h.span_bytes;
  s.heap_empty_spans = h.empty_spans;
  s.heap_blocks_out = h.blocks_out;
  s.heap_spans_made = h.spans_made;
  s.heap_spans_returned = h.spans_returned;
  s.heap_blocks_taken = h.blocks_taken;
  s.heap_blocks_given = h.blocks_given;
  s.heap_cached_span_bytes = h.cached_span_bytes;
  s.heap_spans_reused = h.spans_reused;
  return s;
}

std::uint32_t ChainLength(const Block* h, std::uint32_t limit) noexcept {
  std::uint32_t n = 0;
  while (h != nullptr && n <= limit) {
    if ((reinterpret_cast<std::uintptr_t>(h) & (kAlignment - 1)) != 0) return limit + 1;
    if (!ReadTag(h).ok) return limit + 1;  // HDR-2: its link cannot be trusted
    ++n;
    h = PeekLink(h);
  }
  return n;
}

// INV-LISTED: a listed batch's list names its k-th block at entry
// count - 1 - k (the chain itself checked by the caller).
ValidationResult CheckInvListed(const BatchRecord* r) noexcept {
  const BlockList* list = r->list;
  if (list == nullptr) return {nullptr, nullptr, nullptr};
  const std::uint32_t m = r->batch.count;
  if (list->count != m || m > kListedMax)
    return {"INV-LISTED", list, "a batch's list does not have its length"};
  const Block* h = r->batch.head;
  for (std::uint32_t k = 0; k < m; ++k, h = PeekLink(h))
    if (list->block[m - 1 - k] != h) return {"INV-LISTED", h, "a batch's list is not its chain"};
  return {nullptr, nullptr, nullptr};
}

ValidationResult ValidateDepot() noexcept {
  std::size_t reservations = 0;  // INV-DEPOT-BOUND: the shards' bytes and credits
  const std::uint64_t budget_epoch = DepotBudgetEpoch();
  const std::size_t before = g_depot_bytes.load(std::memory_order_acquire);
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (Shard& s : g_shards[c]) {
      if (!s.used.load(std::memory_order_relaxed)) continue;
      bool contended;
      ShardLocked lock(s, &contended);
      std::size_t shard_bytes = 0;
      std::uint32_t n = 0;
      const BatchRecord* newer = nullptr;
      for (const BatchRecord* r = s.newest; r != nullptr; newer = r, r = r->older) {
        if (r->newer != newer || ++n > s.nbatches.load(std::memory_order_relaxed))
          return {"INV-DEPOT", r, "a shard's queue of batches is broken"};
        const Batch& b = r->batch;
        if (ChainLength(b.head, b.count) != b.count)
          return {"INV-DEPOT", b.head, "a depot batch's chain does not have its count"};
        if (ValidationResult v = CheckInvListed(r); !v) return v;
        for (const Block* h = b.head; h != nullptr; h = PeekLink(h)) {
          if (!CachedHeaderOk(h, c))
            return {"INV-DEPOT", h, "a depot block is not tagged as cached in its class"};
        }
        shard_bytes += BatchBytes(c, b.count);
      }
      if (newer != s.oldest || n != s.nbatches.load(std::memory_order_relaxed) ||
          shard_bytes != s.bytes)
        return {"INV-DEPOT", &s, "a shard's totals do not match its batches"};
      reservations += s.bytes + s.credit.load(std::memory_order_relaxed);
    }
  }
  // INV-DEPOT-BOUND: the reservation never passes the budget in force when
  // each part was reserved (a put reserves with a compare-and-swap, below
  // the budget or not at all; a lowered budget leaves the ceiling until a
  // trim finds the depot fitting): checked when no budget changed during the
  // walk. And it is what the shards hold, batches and credits: checked when
  // no shard changed it during the walk (its version unchanged; a shard
  // changes its part only with it, under its lock).
  const std::size_t after = g_depot_bytes.load(std::memory_order_acquire);
  const BudgetBound bound = DepotBudgetBound();
  if (bound.epoch == budget_epoch && Reserved(after) > bound.bytes)
    return {"INV-DEPOT-BOUND", &g_depot_bytes, "the depot holds more than its budget"};
  if (before == after && reservations != Reserved(after))
    return {"INV-DEPOT-BOUND", &g_depot_bytes,
            "the shards' batches and credits are not the depot's reservation"};
  return {nullptr, nullptr, nullptr};
}

// LIFE-4: in the child of a fork, a shard whose lock was free at the fork
// is consistent, and its batches are the child's; a shard whose lock a
// thread of the parent held may be half changed: it starts empty, its
// batches stranded (like the parent's other threads' caches), its lock
// free. The reservation is recounted from the shards kept.
void DepotAfterForkInChild() noexcept {
  std::size_t bytes = 0;
  for (auto& shards : g_shards) {
    for (Shard& s : shards) {
      if (!s.used.load(std::memory_order_relaxed)) continue;  // its lock never taken by a put
      if (!IsHeld(s.lock)) {  // free at the fork: consistent
        bytes += s.bytes + s.credit.load(std::memory_order_relaxed);
        continue;
      }
      RenewInChild(s.lock);
      s.newest = s.oldest = s.free_records = nullptr;
      s.free_lists = nullptr;
      s.nbatches.store(0, std::memory_order_relaxed);
      s.bytes = 0;
      s.credit.store(0, std::memory_order_relaxed);
    }
  }
  g_depot_bytes.store(bytes, std::memory_order_relaxed);
}

void LockDepotForMutant(bool lock) noexcept {
  for (auto& shards : g_shards)
    for (Shard& s : shards) HoldForMutant(s.lock, lock);
}

}  // namespace detail
}  // namespace concalloc

