// The depot's protocol (DEPOT-PUT, DEPOT-TAKE, DEPOT-BUDGET, DEPOT-CREDIT,
// DEPOT-EVICT, DEPOT-SHARD): batches between thread caches, under one
// shard lock each. Trim, statistics, the checker and the fork child are in
// depot_admin.cpp; the shard and its invariants in depot_shard.h.
#include "depot.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "backend.h"
#include "checked.h"
#include "config.h"
#include "depot_shard.h"
#include "heap.h"
#include "lock.h"
#include "platform.h"
#include "sanitizer_hooks.h"

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

// DEPOT-GROW: how many times the configured budget is doubled now; and for
// each class, the client whose put last gave a batch of the class to the
// backend (an eviction or a refusal), until a take finds the depot empty.
// Written on those rare events only (never per batch that stays).
namespace {
std::atomic<std::uint32_t> g_budget_doublings{0};
std::atomic<std::uint64_t> g_budget_growths{0};
std::atomic<std::uint64_t> g_gave_back_by[kNumClasses];  // a DepotClient serial

// INV-DEPOT-BOUND across a budget's changes. A budget that goes down (Trim,
// DEPOT-QUIET, SetDepotBudget) leaves parts reserved under the higher one
// until the trim gives them back, and a put may land in a shard the trim
// has passed. The ceiling is at least every budget in force since the
// depot last fit the budget in force (0: no higher one): raised before a
// budget goes up or down, settled to 0 by a trim that finds the depot
// fitting. The epoch counts the changes of both, so that Validate compares
// the reservation with a bound no change ran across. (Rare events only:
// sequentially consistent.)
std::atomic<std::size_t> g_budget_ceiling{0};
std::atomic<std::uint64_t> g_budget_epoch{0};
std::size_t BudgetWith(std::size_t base, std::uint32_t d) {
  return base <= (kMaxDepotBytes >> d) ? base << d : kMaxDepotBytes;
}
void RaiseBudgetCeiling(std::size_t bytes) {
  std::size_t c = g_budget_ceiling.load();
  while (c < bytes && !g_budget_ceiling.compare_exchange_weak(c, bytes)) {
  }
  g_budget_epoch.fetch_add(1);
}

void NoteGaveBack(std::size_t cls, const DepotClient& client) {
  g_gave_back_by[cls].store(client.serial, std::memory_order_relaxed);
}

// DEPOT-GROW: a take found the depot empty (its thread goes to the backend
// for blocks of class cls). When another thread's put gave blocks of the
// class to the backend since the last such take, the depot was too small
// for the flow between them (what it gave back is needed again): the
// budget in force doubles, up to kMaxBudgetDoublings times. A thread's own
// evictions never grow it: alone, it uses the depot as its second cache
// level (DEPOT-SPILL), and its evictions give back what it did not reuse.
void NoteEmptyTake(std::size_t cls, const DepotClient& client) {
  const std::uint64_t by = g_gave_back_by[cls].load(std::memory_order_relaxed);
  if (by == 0) return;
  if (by == client.serial && kMutant != kMutantGrowAlone) return;
  g_gave_back_by[cls].store(0, std::memory_order_relaxed);
  constexpr std::uint32_t most = kMutant == kMutantGrowUnbounded ? 6 : kMaxBudgetDoublings;
  std::uint32_t d = g_budget_doublings.load(std::memory_order_relaxed);
  for (;;) {
    if (d >= most) break;
    RaiseBudgetCeiling(BudgetWith(g_depot_budget.Get(), d + 1));  // INV-DEPOT-BOUND: first
    if (g_budget_doublings.compare_exchange_weak(d, d + 1)) break;
  }
  if (d < most) {
    g_budget_epoch.fetch_add(1);
    g_budget_growths.fetch_add(1, std::memory_order_relaxed);
  }
}
}  // namespace

std::size_t ConfiguredDepotBudget() noexcept { return g_depot_budget.Get(); }
std::size_t DepotBudgetBytes() noexcept {
  return BudgetWith(g_depot_budget.Get(), g_budget_doublings.load(std::memory_order_relaxed));
}
void ResetDepotGrowth() noexcept {
  RaiseBudgetCeiling(DepotBudgetBytes());  // INV-DEPOT-BOUND: before it goes down
  g_budget_doublings.store(0);
  g_budget_epoch.fetch_add(1);
  for (auto& by : g_gave_back_by) by.store(0, std::memory_order_relaxed);
}
void BudgetAboutToChange() noexcept { RaiseBudgetCeiling(DepotBudgetBytes()); }
void SettleBudgetCeiling() noexcept {
  std::size_t c = g_budget_ceiling.load();
  if (c != 0 && Reserved(g_depot_bytes.load()) <= DepotBudgetBytes() &&
      g_budget_ceiling.compare_exchange_strong(c, 0))
    g_budget_epoch.fetch_add(1);
}
BudgetBound DepotBudgetBound() noexcept {
  const std::uint64_t epoch = g_budget_epoch.load();
  const std::size_t budget = BudgetWith(g_depot_budget.Get(), g_budget_doublings.load());
  return {std::max(budget, g_budget_ceiling.load()), epoch};
}
std::uint64_t DepotBudgetEpoch() noexcept { return g_budget_epoch.load(); }
std::uint64_t DepotBudgetGrowths() noexcept { return g_budget_growths.load(std::memory_order_relaxed); }

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

BlockList* NewList(DepotClient& client) noexcept {
  BlockList* list = client.next_list;
  client.next_list = nullptr;
  if (list == nullptr) list = static_cast<BlockList*>(DefaultBackend().alloc(sizeof(BlockList)));
  if (list != nullptr) list->count = 0;
  return list;
}

void DropList(DepotClient& client, BlockList* list) noexcept {
  if (list == nullptr) return;
  ForgetListed(list, 0, list->count);  // SAN-LEAK
  list->count = 0;
  if (client.next_list == nullptr)
    client.next_list = list;
  else
    DefaultBackend().free(list);
}

void ReleaseLists(DepotClient& client) noexcept {
  if (client.next_list != nullptr) DefaultBackend().free(client.next_list);
  client.next_list = nullptr;
}

BlockList* ListChain(DepotClient& client, Batch batch, std::size_t cls) noexcept {
  if (batch.count < ListedMin(cls) || batch.count > kListedMax) return nullptr;
  BlockList* list = NewList(client);
  if (list == nullptr) return nullptr;
  Block* b = batch.head;
  for (std::uint32_t k = 0; k < batch.count; ++k) {
    list->block[batch.count - 1 - k] = b;
    if (k + 1 < batch.count) b = NextCached(b, cls);  // CHK-LIST, HARD-LINK
  }
  list->count = batch.count;
  return list;
}

// SAN-LEAK: entries that name blocks leaving the cache for the user are
// cleared where a leak checker scans the process's memory, since the list
// stays reachable (a spare's, the client's next, a shard's free lists) and
// would keep a block its user dropped from being reported. (Seen: a block
// taken in a listed batch and dropped was never reported.)
void ForgetListed(BlockList* list, std::uint32_t from, std::uint32_t to) noexcept {
  if (san::LeakCheckerMayLook() && kMutant != kMutantListedKept && to > from)
    std::memset(static_cast<void*>(list->block + from), 0, (to - from) * sizeof(Block*));
}

// DEPOT-LISTED: the first two cache lines of each listed block (its header,
// the link a pop reads, and the caller's first bytes), for writing, all
// issued before the chain is followed. Returns how many blocks.
std::uint32_t PrefetchListed(const BlockList* list, std::uint32_t from, std::uint32_t to,
                             std::size_t cls) noexcept {
  if constexpr (kMutant == kMutantListedUnused) return 0;  // MUT-1
  if (to <= from) return 0;
  const std::size_t reach = kClassSize[cls] < 128 ? kClassSize[cls] : 128;
  static_assert(sizeof(Block*) == sizeof(void*));
  platform::PrefetchForWrite(reinterpret_cast<const void* const*>(list->block + from), to - from,
                             -static_cast<std::ptrdiff_t>(kBlockHeader), reach);
  return to - from;
}

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
