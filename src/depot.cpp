#include "depot.h"

#include <atomic>

#include "backend.h"
#include "checked.h"
#include "heap.h"
#include "config.h"
#include "lock.h"
#include "platform.h"

namespace concalloc {
namespace detail {
namespace {

// A shard of one class's depot: a queue of batches, newest first. Under its
// lock, for the shard of class c:
//   INV-DEPOT:  from `newest`, following `older`, there are exactly
//               `nbatches` records (and `newer` links them back), each a
//               chain of exactly its count blocks tagged cached in class c;
//               `bytes` is the sum over them (BatchBytes); `credit` <=
//               2 * CreditChunk(budget) after each operation (DEPOT-CREDIT).
// And over the whole depot:
//   INV-DEPOT-BOUND: sum over shards of (bytes + credit) == Reserved(
//               g_depot_bytes) <= the budget in force when each reservation
//               was made (a compare-and-swap that never passes it). A shard
//               changes its bytes + credit only under its lock and only
//               with g_depot_bytes in the same section, which counts every
//               change in its version bits (ValidateDepot relies on it).
// Checker: ValidateDepot. The lock is held for O(1) work per batch (and per
// batch it evicts). DEPOT-SHARD: the lock, the queue and the totals are one
// cache line, the shard's own (what a thread writes under the lock is that
// line alone; the counts are the threads', DepotCounts).
struct alignas(64) Shard {
  WordLock lock;
  // Written under the lock; read without it by DepotTake, to skip empty
  // shards without locking them.
  std::atomic<std::uint32_t> nbatches{0};
  BatchRecord* newest = nullptr;
  BatchRecord* oldest = nullptr;
  // Records of batches taken, for the next batches put here (linked through
  // `older`): a record circulates with its shard's batches, and a
  // producer/consumer pair never calls the backend for one.
  BatchRecord* free_records = nullptr;
  std::size_t bytes = 0;
  // DEPOT-CREDIT: bytes reserved in g_depot_bytes that no batch of this
  // shard uses: puts draw on it and takes add to it, so a flow through the
  // shard writes no shared line for the budget. Written under the lock;
  // read without it (a hint) by CollectCredits.
  std::atomic<std::size_t> credit{0};
  // Set (under the lock) when a batch is first put here; read without it by
  // the walks over every shard (Trim, stats, Validate), which leave a shard
  // never used alone: its page of the library's zero-filled data is never
  // touched (MALLOC-LEAN: a process pays for the shards it uses).
  std::atomic<bool> used{false};
};
static_assert(sizeof(Shard) == 64, "DEPOT-SHARD: a shard is one cache line");
CONCALLOC_LARGE_BSS Shard g_shards[kNumClasses][kDepotShards];  // 20 KiB, MALLOC-LEAN

// DEPOT-BUDGET: bytes reserved by the shards (their batches and credits),
// in the low kReservedBits; above them, a version that every change adds 1
// to. A shard writes it only when its credit runs out or overflows
// (DEPOT-CREDIT), not per batch.
constexpr unsigned kReservedBits = 42;
static_assert(kMaxDepotBytes < std::size_t{1} << kReservedBits, "INV-DEPOT-BOUND: room for any budget");
constexpr std::size_t kReservedMask = (std::size_t{1} << kReservedBits) - 1;
constexpr std::size_t kVersionOne = std::size_t{1} << kReservedBits;
std::atomic<std::size_t> g_depot_bytes{0};
std::size_t Reserved(std::size_t word) { return word & kReservedMask; }

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

// DEPOT-COUNTS of the threads that have exited, and of the operations no
// thread's client makes (Trim, DEPOT-QUIET): read-modify-writes, on those
// rare paths only.
DepotCounts g_retired;
std::atomic<std::uint64_t> g_blocks_trimmed{0};

// The owner's count (DepotCounts): a plain add, no read-modify-write.
void Bump(std::atomic<std::uint64_t>& n, std::uint64_t by) {
  n.store(n.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// DEPOT-LOCK: every read and write of a shard holds its lock (the counts
// excepted: `nbatches` is also read without it, as a hint).
// DEPOT-NO-DEADLOCK: nothing done under it takes another lock or calls the
// backend (chains and records are freed after it is released).
class ShardLocked : WordLocked {
 public:
  ShardLocked(Shard& s, bool* contended)
      : WordLocked(s.lock, kMutant != kMutantDepotNoLock, contended) {}
};

void Account(DepotCounts& n, bool contended) {
  Bump(n.acquisitions, 1);
  if (contended) Bump(n.contended, 1);
}

// What one locked section of a shard does to the reservation: its counts,
// and how far it moved the shard's part (TRACE-CREDIT).
struct Rsv {
  DepotCounts& n;
  std::ptrdiff_t moved = 0;
};

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

// Records that left the depot for the backend (evicted, trimmed): their
// chains and the records themselves, after every lock is released.
void FreeRecords(BatchRecord* r, std::size_t cls) noexcept {
  while (r != nullptr) {
    BatchRecord* next = r->older;
    GiveChain(r->batch.head, r->batch.count, cls);
    DefaultBackend().free(r);
    r = next;
  }
}

}  // namespace

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

std::size_t DepotBudgetBytes() noexcept { return g_depot_budget.Get(); }

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

bool DepotPut(std::size_t cls, Batch batch, DepotClient& client) noexcept {
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
              accepted = false;
            }
            break;
          }
          old = UnlinkLocked(s, cls, old == s.oldest);
          AddCredit(s, BatchBytes(cls, old->batch.count));
          CONCALLOC_TRACE_EVENT(trace::kEvict, client.trace, cls, client.shard % kDepotShards,
                                old->batch.count, UserOf(old->batch.head));
          Bump(n.batches_evicted, 1);
          old->older = evicted;
          evicted = old;
        }
        if (collect) {
          record->older = s.free_records;  // kept for the next try
          s.free_records = record;
        } else if (accepted) {
          record->batch = batch;
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
    }
  }
  if (spare != nullptr) DefaultBackend().free(spare);  // the free list had one after all
  FreeRecords(evicted, cls);
  return accepted;
}

Batch DepotTake(std::size_t cls, DepotClient& client) noexcept {
  DepotCounts& n = client.counts;
  for (std::size_t i = 0; i < kDepotShards; ++i) {
    Shard& s = g_shards[cls][(client.shard + i) % kDepotShards];
    if (s.nbatches.load(std::memory_order_relaxed) == 0) continue;  // a hint
    BatchRecord* r = nullptr;
    Batch batch{nullptr, 0};
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
    return batch;
  }
  return {nullptr, 0};
}

bool DepotBacklog(std::size_t cls, const DepotClient& client) noexcept {
  return g_shards[cls][client.shard % kDepotShards].nbatches.load(std::memory_order_relaxed) >=
         kBacklogBatches;
}

namespace {
// Up to `want` bytes of the oldest batches of one shard, unlinked; the
// caller frees them (FreeRecords) after the lock.
BatchRecord* TakeOldest(Shard& s, std::size_t cls, std::size_t want, std::size_t* got,
                        bool trimming) {
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
  // Every shard (its batches, and the records it keeps), one lock at a time.
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (Shard& s : g_shards[c]) {
      if (!s.used.load(std::memory_order_relaxed)) continue;
      std::size_t got;
      BatchRecord* list = TakeOldest(s, c, ~std::size_t{0}, &got, true);
      FreeRecords(list, c);
    }
  }
}

std::size_t DepotTrimTo(std::size_t keep) noexcept {
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
        if (reserved() <= keep) return given;
        if (s.nbatches.load(std::memory_order_relaxed) == 0) continue;
        std::size_t got;
        BatchRecord* list = TakeOldest(s, c, 1, &got, true);  // one batch
        given += got;
        any = any || got > 0;
        FreeRecords(list, c);
      }
    }
  }
  return given;
}

namespace {
void AddCountsOf(GlobalStats& s, const DepotCounts& n) noexcept {
  s.batches_put += n.batches_put.load(std::memory_order_relaxed);
  s.batches_taken += n.batches_taken.load(std::memory_order_relaxed);
  s.batches_refused += n.batches_refused.load(std::memory_order_relaxed);
  s.batches_evicted += n.batches_evicted.load(std::memory_order_relaxed);
  s.blocks_moved += n.blocks_moved.load(std::memory_order_relaxed);
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

ValidationResult ValidateDepot() noexcept {
  std::size_t reservations = 0;  // INV-DEPOT-BOUND: the shards' bytes and credits
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
  // INV-DEPOT-BOUND: the reservation never passes the budget (a put reserves
  // with a compare-and-swap, below the budget or not at all), and it is
  // what the shards hold, batches and credits: checked when no shard changed
  // it during the walk (its version unchanged; a shard changes its part only
  // with it, under its lock).
  const std::size_t after = g_depot_bytes.load(std::memory_order_acquire);
  if (Reserved(after) > DepotBudgetBytes())
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
