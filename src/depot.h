// DEPOT-*: the shared layer between the thread caches and the backend.
// Model: spec/depot.pml (process Thread's moves to and from the depot stand
// for DepotPut and DepotTake; the arrays dblk/dcnt for the shards' batches).
#ifndef CONCALLOC_SRC_DEPOT_H
#define CONCALLOC_SRC_DEPOT_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <concalloc/concalloc.h>

#include "block_header.h"
#include "size_classes.h"
#include "trace.h"

namespace concalloc::detail {

// A chain of `count` blocks of one class, linked through their headers
// exactly as a thread's list is (INV-LIST), ending in nullptr.
struct Batch {
  Block* head;
  std::uint32_t count;
};

// DEPOT-SHARD: each class's depot is kDepotShards shards, each with its own
// lock and its own cache line, so that threads moving batches of one hot
// class (a producer/consumer of one size) mostly take different locks.
constexpr std::size_t kDepotShards = 4;

// DEPOT-LISTED: the addresses of a batch's first `count` blocks (at most
// kListedMax), in the order of its chain, written by the thread that puts
// the batch while its blocks are still in that thread's cache. The thread
// that takes the batch prefetches them all at once, before it follows the
// chain: a chain that another core wrote costs one cache miss after the
// other (each link is read from the block before it), a list costs them
// side by side. A hint: nothing reads a list to find a block, and a list
// that is wrong costs time, never memory safety (a prefetch does not fault).
// Lists circulate like records (a shard keeps those of batches taken, for
// the next put); each thread holds at most two: the one it fills for its
// next put, and the one of the batch it took last.
//   INV-LISTED: a listed batch's list holds exactly its first
//               min(count, kListedMax) blocks, in chain order.
// Checker: ValidateDepot (INV-DEPOT).
constexpr std::uint32_t kListedMax = 256;
struct BlockList {
  BlockList* next_free;  // on a shard's free_lists
  std::uint32_t count;
  Block* block[kListedMax];
};
// DEPOT-LISTED: the batches of class cls that get a list: hot ones (their
// blocks gathered just now, in the putting thread's cache: the list costs a
// walk of lines at hand, not a miss per block), put by a thread other than
// the class's last taker (g_taken_by, depot.cpp), of at least ListedMin(cls)
// blocks: at least 64, and enough that the list is at most a quarter of
// their blocks' bytes (so 16-byte blocks, four to a cache line, go without).
constexpr std::uint32_t ListedMin(std::size_t cls) noexcept {
  const std::size_t by_bytes = (4 * sizeof(BlockList) + kClassSize[cls] - 1) / kClassSize[cls];
  return by_bytes > 64 ? static_cast<std::uint32_t>(by_bytes) : 64;
}
static_assert(ListedMin(0) > kListedMax && ListedMin(4) <= kListedMax,
              "DEPOT-LISTED: 16-byte blocks go without, 80-byte blocks get lists");

// A batch held by the depot: its chain, its list (DEPOT-LISTED, or
// nullptr), and its place in its shard's queue (newest to oldest). Records
// come from the default backend and are counted in the depot's bytes while
// they hold a batch (DEPOT-BUDGET); a taken batch's record stays with its
// shard for the next batch put there.
struct BatchRecord {
  Batch batch;
  BlockList* list;
  BatchRecord* newer;
  BatchRecord* older;
};

// DEPOT-COUNTS: what one thread's depot operations cost, counted by that
// thread alone (in its cache, never in a shared line): each field is
// written by its owner only (a relaxed load and store, no read-modify-write)
// and read by GetGlobalStats from any thread. An exiting thread's counts are
// added to the process's (RetireCounts).
struct DepotCounts {
  std::atomic<std::uint64_t> batches_put{0};
  std::atomic<std::uint64_t> batches_taken{0};
  std::atomic<std::uint64_t> batches_refused{0};
  std::atomic<std::uint64_t> batches_evicted{0};
  std::atomic<std::uint64_t> blocks_moved{0};  // blocks put or taken
  std::atomic<std::uint64_t> acquisitions{0};  // shard locks taken
  std::atomic<std::uint64_t> contended{0};     // of those, found held
  std::atomic<std::uint64_t> budget_rmws{0};   // of g_depot_bytes
  std::atomic<std::uint64_t> blocks_prefetched{0};  // DEPOT-LISTED, by takes
};

// A thread's way into the depot: its shard (DEPOT-SHARD), its counts, and
// its lists (DEPOT-LISTED: the one for its next put, the one of the batch it
// took last; its own, touched by its thread alone, freed by ReleaseLists).
// Its serial names the thread in the depot's per-class hints (the last
// taker, DEPOT-LISTED; the last to give back, DEPOT-GROW): unique in the
// process, never 0, never reused, unlike the address of a cache, which the
// C heap hands to a later thread's cache.
struct DepotClient {
  std::uint64_t serial;
  std::uint32_t shard;
  CONCALLOC_TRACE_ONLY(std::uint16_t trace;)  // TRACE-*: the cache's index
  DepotCounts counts;
  BlockList* next_list;
  BlockList* held_list;
};
// DEPOT-LISTED: a thread's lists back to the default backend (its teardown).
void ReleaseLists(DepotClient& client) noexcept;

// DEPOT-COUNTS: adds a client's counts into s (the caller makes sure the
// client is not freed meanwhile: the registry lock, or its own thread).
void AddCounts(GlobalStats& s, const DepotClient& client) noexcept;
// An exiting thread's counts, added to the process's (once, at teardown).
void RetireCounts(const DepotClient& client) noexcept;
// The counts of every live cache (thread_cache.cpp: under the registry lock).
void AddLiveCounts(GlobalStats& s) noexcept;

// DEPOT-BUDGET, DEPOT-GROW: the budget in force: the configured one
// (ConfiguredDepotBudget), doubled once for each time the depot was found
// too small for a flow between threads, at most kMaxBudgetDoublings times;
// 0 means the depot is off.
std::size_t DepotBudgetBytes() noexcept;
std::size_t ConfiguredDepotBudget() noexcept;
constexpr std::uint32_t kMaxBudgetDoublings = 3;
// DEPOT-GROW: the budget in force goes back to the configured one (Trim,
// DEPOT-QUIET, SetDepotBudget; before they give batches back).
void ResetDepotGrowth() noexcept;
// INV-DEPOT-BOUND: the reservation never exceeds the budget in force when
// each part was reserved. BudgetAboutToChange raises the ceiling to the
// budget in force (SetDepotBudget, before it sets a new one);
// SettleBudgetCeiling drops it once the depot fits the budget in force (the
// trims, at their end). DepotBudgetBound: the most any part may have been
// reserved under (the budget in force, or the ceiling), and the epoch of
// budget changes it was read in; DepotBudgetEpoch: that epoch now.
struct BudgetBound {
  std::size_t bytes;
  std::uint64_t epoch;
};
void BudgetAboutToChange() noexcept;
void SettleBudgetCeiling() noexcept;
BudgetBound DepotBudgetBound() noexcept;
std::uint64_t DepotBudgetEpoch() noexcept;
// DEPOT-GROW: the times the budget doubled since the process started.
std::uint64_t DepotBudgetGrowths() noexcept;

// The bytes a batch of `count` blocks of class cls takes from the budget:
// its blocks and its record.
constexpr std::size_t BatchBytes(std::size_t cls, std::uint32_t count) noexcept {
  return std::size_t{count} * kClassSize[cls] + sizeof(BatchRecord);
}

// DEPOT-PUT: the batch becomes the newest of the client's shard of its
// class, paid from the shard's credit or a new reservation (DEPOT-CREDIT).
// When it would take the depot past its budget, the oldest batches of that
// shard go to the backend to make room (DEPOT-EVICT); when there are none,
// the other shards' credits are collected and it tries once more; then the
// batch is refused: false, and the caller gives its blocks to the backend.
// One lock acquisition, as a rule; the blocks are not touched under it.
// DEPOT-LISTED: `hot` says the batch's blocks are in the calling thread's
// cache (gathered just now): then a batch of ListedMin(cls) blocks or more
// gets its list.
bool DepotPut(std::size_t cls, Batch batch, DepotClient& client, bool hot = false) noexcept;

// DEPOT-TAKE: the newest batch of the class in the client's shard, else in
// another shard, or {nullptr, 0}. Locks only shards that hold a batch.
Batch DepotTake(std::size_t cls, DepotClient& client) noexcept;

// DEPOT-XFER: whether the client's shard of class cls holds kBacklogBatches
// batches or more now (a hint, read without the lock): the takers of the
// class are behind. (One batch waiting is a flow's normal pace: a producer
// of 16 classes whose takes lag a little behind; a burst of thousands of
// frees leaves many.)
constexpr std::uint32_t kBacklogBatches = 2;
bool DepotBacklog(std::size_t cls, const DepotClient& client) noexcept;

// DEPOT-TRIM: every batch to the backend, and the records the shards kept.
void DepotTrim() noexcept;

// DEPOT-QUIET: the oldest batches, of every class, to the backend until the
// depot holds at most `keep` bytes. Returns the bytes it gave back.
std::size_t DepotTrimTo(std::size_t keep) noexcept;


GlobalStats DepotStats() noexcept;

// INV-DEPOT: walks every shard, each under its lock.
ValidationResult ValidateDepot() noexcept;


// Gives the first count blocks of a chain of class cls to the heap
// (HEAP-RETURN; checked builds verify each: CHK-LIST, CHK-WAF); returns
// how many it gave. drop_first: MUT-1 lost_block only.
std::uint32_t GiveChain(Block* head, std::uint32_t count, std::size_t cls,
                        bool drop_first = false) noexcept;

// The number of blocks in a chain that starts at head, at most limit + 1.
std::uint32_t ChainLength(const Block* head, std::uint32_t limit) noexcept;

}  // namespace concalloc::detail

#endif
