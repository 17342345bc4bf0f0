// DEPOT-*: the shared layer between the thread caches and the backend.
// Model: spec/depot.pml (process Thread's moves to and from the depot stand
// for DepotPut and DepotTake; the arrays dblk/dcnt for the shards' batches).
#ifndef CONCALLOC_SRC_DEPOT_H
#define CONCALLOC_SRC_DEPOT_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <concalloc/concalloc.h>

#include "cache/block_header.h"
#include "cache/size_classes.h"
#include "modes/trace.h"

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

// DEPOT-LISTED: the addresses of every block of a chain of cached blocks
// (a spare, a depot batch), in reverse chain order: block[count - 1] is the
// chain's first block, block[0] its last. A spare's list is written by the
// spills' own walks (a store a block, the blocks at hand), goes with the
// spare into the depot when it goes out whole, and comes back with the
// batch to the thread that takes it: that thread prefetches the batch's
// blocks all at once before it follows the chain (a chain that another core
// wrote costs one cache miss after the other, a list costs them side by
// side), cuts it for its list by index (DEPOT-REFILL) and keeps the rest's
// entries as its spare's list; an eviction prefetches from it before it
// walks the chain back to the spans.
//   INV-LISTED: a listed chain of count blocks has a list of exactly count
//               entries, block[count - 1 - k] its k-th block.
// Checkers: ValidateDepot (INV-DEPOT), CheckInvSpare (INV-SPARE).
constexpr std::uint32_t kListedMax = 256;
struct BlockList {
  BlockList* next_free;  // on a shard's free_lists
  std::uint32_t count;
  Block* block[kListedMax];
};
// DEPOT-LISTED: the chains of class cls that get a list: those that will
// hold at least ListedMin(cls) blocks (a spare whose transfer unit,
// DEPOT-XFER, is that large at its first spill; a thread's list at its
// exit of that many blocks), and at most kListedMax. ListedMin(cls) is 64,
// or more where the list would be more than a quarter of the blocks' bytes
// (so 16- and 32-byte blocks, four and two to a cache line, go without).
constexpr std::uint32_t ListedMin(std::size_t cls) noexcept {
  const std::size_t by_bytes = (4 * sizeof(BlockList) + kClassSize[cls] - 1) / kClassSize[cls];
  return by_bytes > 64 ? static_cast<std::uint32_t>(by_bytes) : 64;
}
static_assert(ListedMin(1) > kListedMax && ListedMin(2) <= kListedMax,
              "DEPOT-LISTED: 32-byte blocks go without, 48-byte blocks get lists");

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
// The owner's count (DepotCounts): a plain add, no read-modify-write.
inline void Bump(std::atomic<std::uint64_t>& n, std::uint64_t by) {
  n.store(n.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// A thread's way into the depot: its shard (DEPOT-SHARD), its counts, and
// a list for its next spare (DEPOT-LISTED: taken from its shard at a put;
// its own, touched by its thread alone, freed at its teardown). Its serial
// names the thread in the depot's per-class hint of the last to give back
// (DEPOT-GROW): unique in the process, never 0, never reused, unlike the
// address of a cache, which the C heap hands to a later thread's cache.
struct DepotClient {
  std::uint64_t serial;
  std::uint32_t shard;
  CONCALLOC_TRACE_ONLY(std::uint16_t trace;)  // TRACE-*: the cache's index
  DepotCounts counts;
  BlockList* next_list;
};
// DEPOT-LISTED: an empty list for a chain that will be listed: the client's
// next one, else one from the default backend (nullptr when it has none).
BlockList* NewList(DepotClient& client) noexcept;
// DEPOT-LISTED: a list no chain needs any more: kept as the client's next
// one, else back to the default backend.
void DropList(DepotClient& client, BlockList* list) noexcept;
// DEPOT-LISTED: the client's next list back to the default backend (its
// teardown).
void ReleaseLists(DepotClient& client) noexcept;
// DEPOT-LISTED: a list for a chain of `count` blocks of class cls at batch's
// head, written by walking it (a thread's list at its exit), or nullptr
// when it gets none (fewer than ListedMin or more than kListedMax blocks).
BlockList* ListChain(DepotClient& client, Batch batch, std::size_t cls) noexcept;
// SAN-LEAK: where a leak checker may look, the entries [from, to) of a list
// are cleared: they name blocks that leave the cache for the user.
void ForgetListed(BlockList* list, std::uint32_t from, std::uint32_t to) noexcept;
// DEPOT-LISTED: prefetches the first two cache lines of a list's blocks
// [from, to) for writing, all at once; returns how many blocks. An eviction
// prefetches kPrefetchWindow blocks at a time, each window just before it
// walks them back to their spans.
constexpr std::uint32_t kPrefetchWindow = 32;
std::uint32_t PrefetchListed(const BlockList* list, std::uint32_t from, std::uint32_t to,
                             std::size_t cls) noexcept;

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
// DEPOT-LISTED: *list (or nullptr) is the batch's list (INV-LISTED); the
// depot keeps it with an accepted batch (*list becomes nullptr) and leaves
// it to the caller with a refused one.
bool DepotPut(std::size_t cls, Batch batch, DepotClient& client, BlockList** list) noexcept;

// DEPOT-TAKE: the newest batch of the class in the client's shard, else in
// another shard, or {nullptr, 0}. Locks only shards that hold a batch.
// DEPOT-LISTED: *list is the batch's list (or nullptr); *empty, a list the
// caller no longer needs (or nullptr), is left with the shard for its next
// put when a batch is taken there and the shard keeps none (then *empty
// becomes nullptr), else stays the caller's.
Batch DepotTake(std::size_t cls, DepotClient& client, BlockList** list, BlockList** empty) noexcept;

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
