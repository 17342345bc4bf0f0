// DEPOT-*: the shared layer between the thread caches and the backend.
// Model: spec/depot.pml (process Thread's moves to and from the depot stand
// for DepotPut and DepotTake; the variable `depot` for g_depot).
#ifndef CONCALLOC_SRC_DEPOT_H
#define CONCALLOC_SRC_DEPOT_H

#include <cstddef>
#include <cstdint>

#include <concalloc/concalloc.h>

#include "block_header.h"
#include "size_classes.h"

namespace concalloc::detail {

// A chain of `count` blocks of one class, linked through their headers
// exactly as a thread's list is (INV-LIST), ending in nullptr.
struct Batch {
  Block* head;
  std::uint32_t count;
};

// DEPOT-SLOTS: batches the depot holds per class, at most: 16384 blocks at
// the default depth, so a burst of 10000 frees of one class fits (bench/);
// the budget (DEPOT-BUDGET) is the real bound. The slots are one static
// array (1.5 MiB of address space); slots never used are never touched and
// cost no memory.
constexpr std::size_t kDepotSlots = 1024;

// DEPOT-BUDGET: the configured budget; 0 means the depot is off.
std::size_t DepotBudgetBytes() noexcept;

// DEPOT-PUT: keeps the batch when it fits the budget and a slot is free;
// returns false otherwise (the caller gives the blocks to the backend).
// One lock acquisition; the blocks are not touched under the lock.
bool DepotPut(std::size_t cls, Batch batch) noexcept;

// DEPOT-TAKE: the newest batch of the class, or {nullptr, 0}.
Batch DepotTake(std::size_t cls) noexcept;

// DEPOT-TRIM: every batch to the backend.
void DepotTrim() noexcept;

GlobalStats DepotStats() noexcept;

// INV-DEPOT: walks the depot under its lock.
ValidationResult ValidateDepot() noexcept;

// Gives the first count blocks of a chain of class cls to the backend
// (checked builds verify each: CHK-LIST, CHK-WAF).
void FreeChain(Block* head, std::uint32_t count, std::size_t cls) noexcept;

// The number of blocks in a chain that starts at head, at most limit + 1.
std::uint32_t ChainLength(const Block* head, std::uint32_t limit) noexcept;

}  // namespace concalloc::detail

#endif
