// The depot's protocol (DEPOT-PUT, DEPOT-TAKE, DEPOT-BUDGET, DEPOT-CREDIT,
// DEPOT-EVICT, DEPOT-SHARD): batches between thread caches, under one
// shard lock each. Trim, statistics, the checker and the fork child are in
// depot_admin.cpp; the batches' lists in block_list.cpp; the budget in force
// (DEPOT-GROW) in depot_budget.cpp; the shard and its invariants in
// depot_shard.h.
#include "depot/depot.h"

#include <algorithm>
#include <atomic>

#include "heap/backend.h"
#include "modes/checked.h"
#include "platform/config.h"
#include "depot/depot_shard.h"
#include "heap/heap.h"
#include "platform/lock.h"
#include "platform/platform.h"
#include "modes/sanitizer_hooks.h"

namespace concalloc {
namespace detail {

CONCALLOC_LARGE_BSS Shard g_shards[kNumClasses][kDepotShards];  // 20 KiB, MALLOC-LEAN
std::atomic<std::size_t> g_depot_bytes{0};
DepotCounts g_retired;
std::atomic<std::uint64_t> g_blocks_trimmed{0};

namespace {

// DEPOT-CREDIT: a shard's credit is refilled by a chunk at a time, and what
// passes two chunks goes back. The chunk shrinks as more shards are used, so
// that the credits of every used shard, two chunks at most each, stay below
// half the budget: chunk = budget / (4 * (shards used + 16)).
std::atomic<std::size_t> g_used_shards{0};  // written once per shard
constexpr std::size_t kCreditSlack = 16;
std::size_t CreditChunk(std::size_t budget) {
  if constexpr (kMutant == kMutantCreditNone) return 0;
  return budget / (4 * (g_used_shards.load(std::memory_order_relaxed) + kCreditSlack));
}


// Adds `bytes` to the reservation if it stays within `budget` (CAS); the
// caller holds a shard's lock.
bool TryReserve(Rsv& r, std::size_t bytes, std::size_t budget) {
  std::size_t word = g_depot_bytes.load(std::memory_order_relaxed);
  do {
    if (bytes > budget || Reserved(word) > budget - bytes) return false;
    Bump(r.n.budget_rmws, 1);
  } while (!g_depot_bytes.compare_exchange_weak(word, word + bytes + kVersionOne,
                                                std::memory_order_relaxed));
  r.moved += static_cast<std::ptrdiff_t>(bytes);
  return true;
}

}  // namespace

// Gives `bytes` back from the reservation; ForceReserve (MUT-1 no_bound
// only) adds them past the budget. The caller holds a shard's lock, and
// counts the RMW in n.
void ReleaseBytes(Rsv& r, std::size_t bytes) {
  Bump(r.n.budget_rmws, 1);
  g_depot_bytes.fetch_add(kVersionOne - bytes, std::memory_order_relaxed);
  r.moved -= static_cast<std::ptrdiff_t>(bytes);
}
[[maybe_unused]] void ForceReserve(Rsv& r, std::size_t bytes) {
  Bump(r.n.budget_rmws, 1);
  g_depot_bytes.fetch_add(kVersionOne + bytes, std::memory_order_relaxed);
  r.moved += static_cast<std::ptrdiff_t>(bytes);
}


// TRACE-CREDIT, at the end of a locked section of shard s (class cls),
// for client (nullptr: none): its credit now, and how far the section moved
// its part of the reservation.
void TraceCredit(Shard& s, std::size_t cls, const Rsv& r, const DepotClient* client) {
  CONCALLOC_TRACE_EVENT(trace::kCredit, client != nullptr ? client->trace : trace::kNoCache, cls,
                        static_cast<std::uint32_t>(&s - g_shards[cls]),
                        s.credit.load(std::memory_order_relaxed), nullptr,
                        static_cast<std::uint32_t>(static_cast<std::int64_t>(r.moved)));
  (void)s, (void)cls, (void)r, (void)client;
}


namespace {

// DEPOT-CREDIT, under shard s's lock: a batch's bytes that leave it (taken,
// evicted) stay reserved, as its credit.
void AddCredit(Shard& s, std::size_t bytes) {
  s.credit.store(s.credit.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
}

// DEPOT-CREDIT, under shard s's lock: what passes two chunks goes back, so
// the shard keeps one.
void SettleCredit(Shard& s, Rsv& r, std::size_t budget) {
  const std::size_t credit = s.credit.load(std::memory_order_relaxed);
  const std::size_t chunk = CreditChunk(budget);
  if (credit <= 2 * chunk) return;
  if constexpr (kMutant != kMutantCreditLost) ReleaseBytes(r, credit - chunk);
  s.credit.store(chunk, std::memory_order_relaxed);
}

// DEPOT-CREDIT: `bytes` for a new batch of shard s, under its lock: from
// its credit, else reserved (with a chunk more if the budget allows).
// False: the budget has no room for them.
bool DrawCredit(Shard& s, Rsv& r, std::size_t bytes, std::size_t budget) {
  std::size_t credit = s.credit.load(std::memory_order_relaxed);
  if (credit < bytes) {
    const std::size_t shortfall = bytes - credit, chunk = CreditChunk(budget);
    if (TryReserve(r, shortfall + chunk, budget))
      credit += shortfall + chunk;
    else if (TryReserve(r, shortfall, budget))
      credit += shortfall;
    else
      return false;
  }
  s.credit.store(credit - bytes, std::memory_order_relaxed);
  return true;
}

}  // namespace

// Adds a thread's counts, or a rare path's, into the process's.
void AddInto(DepotCounts& to, const DepotCounts& from) noexcept {
  const auto add = [](std::atomic<std::uint64_t>& a, const std::atomic<std::uint64_t>& b) {
    const std::uint64_t v = b.load(std::memory_order_relaxed);
    if (v != 0) a.fetch_add(v, std::memory_order_relaxed);
  };
  add(to.batches_put, from.batches_put);
  add(to.batches_taken, from.batches_taken);
  add(to.batches_refused, from.batches_refused);
  add(to.batches_evicted, from.batches_evicted);
  add(to.blocks_moved, from.blocks_moved);
  add(to.acquisitions, from.acquisitions);
  add(to.contended, from.contended);
  add(to.budget_rmws, from.budget_rmws);
  add(to.blocks_prefetched, from.blocks_prefetched);
}

// DEPOT-CREDIT: every shard's credit (but `except`'s) back to the
// reservation, one shard lock at a time; the rare paths: a put that found
// the budget full, DepotTrimTo.
void CollectCredits(const Shard* except, DepotCounts& n) noexcept {
  for (auto& shards : g_shards) {
    for (Shard& s : shards) {
      if (&s == except || !s.used.load(std::memory_order_relaxed) ||
          s.credit.load(std::memory_order_relaxed) == 0)
        continue;
      bool contended;
      ShardLocked lock(s, &contended);
      Account(n, contended);
      const std::size_t credit = s.credit.load(std::memory_order_relaxed);
      if (credit == 0) continue;
      CONCALLOC_TRACE_ORDERED();  // TRACE-ORDER
      Rsv r{n};
      ReleaseBytes(r, credit);
      s.credit.store(0, std::memory_order_relaxed);
      TraceCredit(s, static_cast<std::size_t>(&shards - g_shards), r, nullptr);
    }
  }
}

// Unlinks and returns the oldest (or newest) record; the caller holds the
// lock and the shard is not empty.
BatchRecord* UnlinkLocked(Shard& s, std::size_t cls, bool oldest) {
  BatchRecord* r = oldest ? s.oldest : s.newest;
  (r->newer != nullptr ? r->newer->older : s.newest) = r->older;
  (r->older != nullptr ? r->older->newer : s.oldest) = r->newer;
  s.nbatches.store(s.nbatches.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  s.bytes -= BatchBytes(cls, r->batch.count);
  return r;
}

namespace {

void LinkNewestLocked(Shard& s, std::size_t cls, BatchRecord* r) {
  if (!s.used.load(std::memory_order_relaxed)) {
    s.used.store(true, std::memory_order_relaxed);
    g_used_shards.fetch_add(1, std::memory_order_relaxed);  // DEPOT-CREDIT
  }
  r->newer = nullptr;
  r->older = s.newest;
  (s.newest != nullptr ? s.newest->newer : s.oldest) = r;
  s.newest = r;
  s.nbatches.store(s.nbatches.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  s.bytes += BatchBytes(cls, r->batch.count);
}

}  // namespace

// Records that left the depot for the backend (evicted, trimmed): their
// chains and the records themselves, after every lock is released.
void FreeRecords(BatchRecord* r, std::size_t cls) noexcept {
  while (r != nullptr) {
    BatchRecord* next = r->older;
    if (r->list != nullptr) {
      // DEPOT-LISTED: the cold blocks' misses side by side, a window of
      // kPrefetchWindow blocks at a time (more would queue on the core's
      // outstanding misses), each window walked back to the spans.
      const BlockList* list = r->list;
      for (std::uint32_t left = list->count; left > 0;) {
        const std::uint32_t k = left < kPrefetchWindow ? left : kPrefetchWindow;
        PrefetchListed(list, left - k, left, cls);
        GiveChain(list->block[left - 1], k, cls);
        left -= k;
      }
    } else {
      GiveChain(r->batch.head, r->batch.count, cls);
    }
    if (r->list != nullptr) DefaultBackend().free(r->list);
    DefaultBackend().free(r);
    r = next;
  }
}


std::uint32_t GiveChain(Block* h, std::uint32_t count, std::size_t cls, bool drop_first) noexcept {
  // HEAP-RETURN: in groups, one lock hold of the class's heap each.
  constexpr std::uint32_t kGroup = 64;
  Block* group[kGroup];
  std::uint32_t n = 0;
  std::uint32_t k = 0;
  for (; k < count && h != nullptr; ++k) {
    Block* next = kChecked && kMutant != kMutantTrimUnverified ? CheckedToBackend(h, cls)
                                                               : LinkOf(h);  // CHK-WAF, HARD-LINK
    if (!drop_first || k != 0) group[n++] = h;  // MUT-1 lost_block drops one
    if (n == kGroup) {
      HeapGive(cls, group, n);
      n = 0;
    }
    h = next;
  }
  HeapGive(cls, group, n);
  return k - (drop_first && k > 0 ? 1 : 0);
}


namespace {
// A record for a batch of shard s: its free list's first, or `spare`; the
// caller holds the lock. nullptr: the caller gets one from the backend with
// the lock released (DEPOT-NO-DEADLOCK) and tries again.
BatchRecord* PopRecordLocked(Shard& s, BatchRecord** spare) {
  if (BatchRecord* r = s.free_records) {
    s.free_records = r->older;
    return r;
  }
  BatchRecord* r = *spare;
  *spare = nullptr;
  return r;
}
}  // namespace

bool DepotPut(std::size_t cls, Batch batch, DepotClient& client, BlockList** list) noexcept {
  DepotCounts& n = client.counts;
  const std::size_t bytes = BatchBytes(cls, batch.count);
  const std::size_t budget = DepotBudgetBytes();
  if (bytes > budget) return false;  // DEPOT-BUDGET (touches nothing shared)
  Shard& s = g_shards[cls][client.shard % kDepotShards];
  BatchRecord* spare = nullptr;
  BatchRecord* evicted = nullptr;
  bool accepted = true, collected = false;
  for (bool done = false; !done;) {
    bool collect = false;
    {
      bool contended;
      ShardLocked lock(s, &contended);
      Account(n, contended);
      BatchRecord* record = PopRecordLocked(s, &spare);
      if (record != nullptr) {
        CONCALLOC_TRACE_ORDERED();  // TRACE-ORDER: the bytes change with the events
        done = true;
        // DEPOT-BUDGET: the batch's bytes from the shard's credit or the
        // reservation, never past the budget; DEPOT-EVICT: make room with
        // this shard's oldest batches (their bytes become its credit).
        Rsv r{n};
        while (!DrawCredit(s, r, bytes, budget)) {
          if constexpr (kMutant == kMutantNoBound) {  // MUT-1: kept past the budget
            ForceReserve(r, bytes);
            break;
          }
          BatchRecord* old = kMutant == kMutantEvictNewest ? s.newest : s.oldest;
          if (old == nullptr) {
            if (!collected && kMutant != kMutantCreditStranded) {
              // DEPOT-CREDIT: the other shards' credit first
              done = false;
              collect = true;
            } else {  // refused
              Bump(n.batches_refused, 1);
              NoteGaveBack(cls, client);  // DEPOT-GROW
              accepted = false;
            }
            break;
          }
          old = UnlinkLocked(s, cls, old == s.oldest);
          AddCredit(s, BatchBytes(cls, old->batch.count));
          CONCALLOC_TRACE_EVENT(trace::kEvict, client.trace, cls, client.shard % kDepotShards,
                                old->batch.count, UserOf(old->batch.head));
          Bump(n.batches_evicted, 1);
          NoteGaveBack(cls, client);  // DEPOT-GROW
          old->older = evicted;
          evicted = old;
        }
        if (collect) {
          record->older = s.free_records;  // kept for the next try
          s.free_records = record;
        } else if (accepted) {
          record->batch = batch;
          record->list = *list;  // DEPOT-LISTED
          *list = nullptr;
          if (client.next_list == nullptr && s.free_lists != nullptr) {
            client.next_list = s.free_lists;
            s.free_lists = client.next_list->next_free;
          }
          LinkNewestLocked(s, cls, record);
          CONCALLOC_TRACE_EVENT(trace::kPut, client.trace, cls, client.shard % kDepotShards,
                                batch.count, UserOf(batch.head),
                                budget < 0xffffffffu ? budget : 0xffffffffu);
          Bump(n.batches_put, 1);
          Bump(n.blocks_moved, batch.count);
        } else {
          record->older = s.free_records;
          s.free_records = record;
        }
        SettleCredit(s, r, budget);
        TraceCredit(s, cls, r, &client);
      }
    }
    if (collect) {
      // The budget is full and this shard has nothing to give back: the
      // other shards' credits first (one lock at a time, this one
      // released: DEPOT-NO-DEADLOCK), then once more.
      collected = true;
      CollectCredits(&s, n);
    } else if (!done) {
      // The shard has no free record: one from the default backend, with
      // the lock released (DEPOT-NO-DEADLOCK), then again.
      spare = static_cast<BatchRecord*>(DefaultBackend().alloc(sizeof(BatchRecord)));
      if (spare == nullptr) return false;  // no memory for a record: refused
      spare->list = nullptr;  // a record on a free list has no list (DEPOT-LISTED)
    }
  }
  if (spare != nullptr) DefaultBackend().free(spare);  // the free list had one after all
  FreeRecords(evicted, cls);
  return accepted;
}

Batch DepotTake(std::size_t cls, DepotClient& client, BlockList** list, BlockList** empty) noexcept {
  DepotCounts& n = client.counts;
  *list = nullptr;
  for (std::size_t i = 0; i < kDepotShards; ++i) {
    Shard& s = g_shards[cls][(client.shard + i) % kDepotShards];
    if (s.nbatches.load(std::memory_order_relaxed) == 0) continue;  // a hint
    BatchRecord* r = nullptr;
    Batch batch{nullptr, 0};
    BlockList* got = nullptr;  // DEPOT-LISTED
    {
      bool contended;
      ShardLocked lock(s, &contended);
      Account(n, contended);
      if (s.newest == nullptr) continue;
      CONCALLOC_TRACE_ORDERED();  // TRACE-ORDER
      if constexpr (kMutant == kMutantTraceTakeTwice) {
        // MUT-1: the first batch taken in the process stays in the depot too
        // (its bytes also become credit, as a take's do, so that only the
        // second owner of its blocks shows in the trace: INV-OWNERSHIP)
        static std::atomic<bool> taken_once{false};
        if (!taken_once.exchange(true)) {
          CONCALLOC_TRACE_EVENT(trace::kTake, client.trace, cls, (client.shard + i) % kDepotShards,
                                s.newest->batch.count, UserOf(s.newest->batch.head));
          AddCredit(s, BatchBytes(cls, s.newest->batch.count));
          Rsv rsv{n};
          SettleCredit(s, rsv, DepotBudgetBytes());
          TraceCredit(s, cls, rsv, &client);
          return s.newest->batch;
        }
      }
      r = UnlinkLocked(s, cls, /*oldest=*/false);
      // DEPOT-LISTED: the batch's list goes with it (prefetched below,
      // after the lock); the caller's empty one stays here for a next put
      // when the shard has none (lists taken back here and drawn by puts
      // of other classes would pile up otherwise: 13,000 of them, 27 MiB,
      // in a mixed-size hand-off).
      got = r->list;
      r->list = nullptr;
      if (*empty != nullptr && s.free_lists == nullptr) {  // a shard keeps one
        (*empty)->next_free = nullptr;
        s.free_lists = *empty;
        *empty = nullptr;
      }
      Bump(n.batches_taken, 1);
      Bump(n.blocks_moved, r->batch.count);
      batch = r->batch;
      CONCALLOC_TRACE_EVENT(trace::kTake, client.trace, cls, (client.shard + i) % kDepotShards,
                            batch.count, UserOf(batch.head));
      // DEPOT-CREDIT: its bytes stay reserved, for the next batch put here.
      AddCredit(s, BatchBytes(cls, batch.count));
      Rsv rsv{n};
      SettleCredit(s, rsv, DepotBudgetBytes());
      TraceCredit(s, cls, rsv, &client);
      r->older = s.free_records;  // for the next batch put here
      s.free_records = r;
    }
    *list = got;
    return batch;
  }
  NoteEmptyTake(cls, client);  // DEPOT-GROW
  return {nullptr, 0};
}

bool DepotBacklog(std::size_t cls, const DepotClient& client) noexcept {
  return g_shards[cls][client.shard % kDepotShards].nbatches.load(std::memory_order_relaxed) >=
         kBacklogBatches;
}

}  // namespace detail
}  // namespace concalloc
