// The depot's shards and what its files share (depot.cpp: the protocol,
// DEPOT-PUT, DEPOT-TAKE, DEPOT-CREDIT; depot_admin.cpp: trim, statistics,
// the checker, the fork child). Not a public header: only those two include it.
#ifndef CONCALLOC_SRC_DEPOT_SHARD_H
#define CONCALLOC_SRC_DEPOT_SHARD_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "depot/depot.h"
#include "platform/lock.h"

namespace concalloc::detail {

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
  // DEPOT-LISTED: at most one empty list, left by a take, for a next put
  // here.
  BlockList* free_lists = nullptr;
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
extern Shard g_shards[kNumClasses][kDepotShards];

// DEPOT-BUDGET: bytes reserved by the shards (their batches and credits),
// in the low kReservedBits; above them, a version that every change adds 1
// to. A shard writes it only when its credit runs out or overflows
// (DEPOT-CREDIT), not per batch.
constexpr unsigned kReservedBits = 42;
static_assert(kMaxDepotBytes < std::size_t{1} << kReservedBits, "INV-DEPOT-BOUND: room for any budget");
constexpr std::size_t kReservedMask = (std::size_t{1} << kReservedBits) - 1;
constexpr std::size_t kVersionOne = std::size_t{1} << kReservedBits;
extern std::atomic<std::size_t> g_depot_bytes;
inline std::size_t Reserved(std::size_t word) { return word & kReservedMask; }

// DEPOT-COUNTS of the threads that have exited, and of the operations no
// thread's client makes (Trim, DEPOT-QUIET): read-modify-writes, on those
// rare paths only.
extern DepotCounts g_retired;
extern std::atomic<std::uint64_t> g_blocks_trimmed;

// DEPOT-LOCK: every read and write of a shard holds its lock (the counts
// excepted: `nbatches` is also read without it, as a hint).
// DEPOT-NO-DEADLOCK: nothing done under it takes another lock or calls the
// backend (chains and records are freed after it is released).
class ShardLocked : WordLocked {
 public:
  ShardLocked(Shard& s, bool* contended)
      : WordLocked(s.lock, kMutant != kMutantDepotNoLock, contended) {}
};

inline void Account(DepotCounts& n, bool contended) {
  Bump(n.acquisitions, 1);
  if (contended) Bump(n.contended, 1);
}

// What one locked section of a shard does to the reservation: its counts,
// and how far it moved the shard's part (TRACE-CREDIT).
struct Rsv {
  DepotCounts& n;
  std::ptrdiff_t moved = 0;
};


// Gives `bytes` back from the reservation; the caller holds a shard's lock.
void ReleaseBytes(Rsv& r, std::size_t bytes);
// TRACE-CREDIT, at the end of a locked section of shard s (class cls).
void TraceCredit(Shard& s, std::size_t cls, const Rsv& r, const DepotClient* client);
// Adds a thread's counts, or a rare path's, into the process's.
void AddInto(DepotCounts& to, const DepotCounts& from) noexcept;
// DEPOT-CREDIT: every shard's credit (but `except`'s) back to the reservation.
void CollectCredits(const Shard* except, DepotCounts& n) noexcept;
// Unlinks and returns the oldest (or newest) record; the caller holds the
// lock and the shard is not empty.
BatchRecord* UnlinkLocked(Shard& s, std::size_t cls, bool oldest);
// Records that left the depot for the backend, their chains with them,
// after every lock is released.
void FreeRecords(BatchRecord* r, std::size_t cls) noexcept;

// DEPOT-GROW (depot_budget.cpp): a put of the client's gave blocks of class
// cls to the backend (NoteGaveBack); a take of the client's found the depot
// empty (NoteEmptyTake: the budget in force doubles when another thread's
// put gave blocks of the class back since the last such take).
void NoteGaveBack(std::size_t cls, const DepotClient& client) noexcept;
void NoteEmptyTake(std::size_t cls, const DepotClient& client) noexcept;

}  // namespace concalloc::detail

#endif
