// DEPOT-*: the shared layer between the thread caches and the backend.
// Model: spec/depot.pml (process Thread's moves to and from the depot stand
// for DepotPut and DepotTake; the arrays dblk/dcnt for the shards' batches).
#ifndef CONCALLOC_SRC_DEPOT_H
#define CONCALLOC_SRC_DEPOT_H

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
// lock and its own cache lines, so that threads moving batches of one hot
// class (a producer/consumer of one size) mostly take different locks.
constexpr std::size_t kDepotShards = 4;

// A batch held by the depot: its chain, and its place in its shard's queue
// (newest to oldest). Records come from the default backend and are counted
// in the depot's bytes while they hold a batch (DEPOT-BUDGET); a taken
// batch's record stays with its shard for the next batch put there.
struct BatchRecord {
  Batch batch;
  BatchRecord* newer;
  BatchRecord* older;
};

// A thread's way into the depot: its shard (DEPOT-SHARD).
struct DepotClient {
  std::uint32_t shard;
  CONCALLOC_TRACE_ONLY(std::uint16_t trace;)  // TRACE-*: the cache's index
};

// DEPOT-BUDGET: the configured budget; 0 means the depot is off.
std::size_t DepotBudgetBytes() noexcept;

// The bytes a batch of `count` blocks of class cls takes from the budget:
// its blocks and its record.
constexpr std::size_t BatchBytes(std::size_t cls, std::uint32_t count) noexcept {
  return std::size_t{count} * kClassSize[cls] + sizeof(BatchRecord);
}

// DEPOT-PUT: the batch becomes the newest of the client's shard of its
// class. When it would take the depot past its budget, the oldest batches
// of that shard go to the backend to make room (DEPOT-EVICT); when they
// cannot, the batch is refused: false, and the caller gives its blocks to
// the backend. One lock acquisition; the blocks are not touched under it.
bool DepotPut(std::size_t cls, Batch batch, const DepotClient& client) noexcept;

// DEPOT-TAKE: the newest batch of the class in the client's shard, else in
// another shard, or {nullptr, 0}. Locks only shards that hold a batch.
Batch DepotTake(std::size_t cls, const DepotClient& client) noexcept;

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


// Gives the first count blocks of a chain of class cls to the backend
// (checked builds verify each: CHK-LIST, CHK-WAF); returns how many it gave.
std::uint32_t FreeChain(Block* head, std::uint32_t count, std::size_t cls) noexcept;

// The number of blocks in a chain that starts at head, at most limit + 1.
std::uint32_t ChainLength(const Block* head, std::uint32_t limit) noexcept;

}  // namespace concalloc::detail

#endif
