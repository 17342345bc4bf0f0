#include "depot.h"

#include "backend.h"
#include "checked.h"
#include "config.h"
#include "lock.h"
#include "platform.h"

namespace concalloc {
namespace detail {
namespace {

// The depot. Under the depot lock (LockId::kDepot), for every class c:
//   INV-DEPOT:        each of the nbatches[c] batches is a chain of exactly
//                     its count blocks, tagged cached in class c;
//                     nbatches[c] <= kDepotSlots;
//                     bytes == sum over batches of count * kClassSize[c];
//   INV-DEPOT-BOUND:  bytes <= the budget in force when each batch was put.
// Checker: ValidateDepot. The lock is held for O(1) work per batch.
struct Depot {
  std::size_t bytes = 0;
  std::size_t blocks = 0;
  std::size_t batches = 0;
  std::uint32_t nbatches[kNumClasses] = {};
  Batch slots[kNumClasses][kDepotSlots] = {};
  std::uint64_t batches_put = 0;
  std::uint64_t batches_taken = 0;
  std::uint64_t batches_refused = 0;
  std::uint64_t blocks_trimmed = 0;
};
Depot g_depot;

// DEPOT-LOCK: every read and write of g_depot holds the depot lock (lock.h,
// which also keeps it across fork: LIFE-4).
// DEPOT-NO-DEADLOCK: nothing done under it takes another lock or calls the
// backend (FreeChain runs after the lock is released).
class DepotLocked : Locked {
 public:
  DepotLocked() : Locked(LockId::kDepot, kMutant != kMutantDepotNoLock) {}
};

}  // namespace

void FreeChain(Block* h, std::uint32_t count, std::size_t cls) noexcept {
  const Backend& backend = CurrentBackend();
  for (std::uint32_t k = 0; k < count && h != nullptr; ++k) {
    Block* next = kChecked && kMutant != kMutantTrimUnverified ? CheckedToBackend(h, cls)
                                                               : DecodeLink(LoadWord(h));  // CHK-WAF
    backend.free(RawOf(h));
    h = next;
  }
}

std::size_t DepotBudgetBytes() noexcept { return g_depot_budget.Get(); }

bool DepotPut(std::size_t cls, Batch batch) noexcept {
  const std::size_t bytes = std::size_t{batch.count} * kClassSize[cls];
  const std::size_t budget = DepotBudgetBytes();
  DepotLocked lock;
  // DEPOT-BUDGET, DEPOT-SLOTS
  if (g_depot.nbatches[cls] == kDepotSlots || bytes > budget || g_depot.bytes > budget - bytes) {
    g_depot.batches_refused += 1;
    return false;
  }
  g_depot.slots[cls][g_depot.nbatches[cls]++] = batch;
  g_depot.bytes += bytes;
  g_depot.blocks += batch.count;
  g_depot.batches += 1;
  g_depot.batches_put += 1;
  return true;
}

namespace {
// The newest batch of the class, or {nullptr, 0}; the caller holds the lock.
Batch TakeLocked(std::size_t cls) noexcept {
  if (g_depot.nbatches[cls] == 0) return {nullptr, 0};
  const Batch batch = g_depot.slots[cls][--g_depot.nbatches[cls]];
  g_depot.slots[cls][g_depot.nbatches[cls]] = {nullptr, 0};
  g_depot.bytes -= std::size_t{batch.count} * kClassSize[cls];
  g_depot.blocks -= batch.count;
  g_depot.batches -= 1;
  return batch;
}
}  // namespace

Batch DepotTake(std::size_t cls) noexcept {
  DepotLocked lock;
  const Batch batch = TakeLocked(cls);
  if (batch.head != nullptr) g_depot.batches_taken += 1;
  return batch;
}

void DepotTrim() noexcept {
  // Up to kChunk batches per lock acquisition; the backend is called after
  // each release (DEPOT-NO-DEADLOCK).
  constexpr std::size_t kChunk = 64;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (;;) {
      Batch taken[kChunk];
      std::size_t n = 0;
      {
        DepotLocked lock;
        for (; n < kChunk; ++n) {
          taken[n] = TakeLocked(c);
          if (taken[n].head == nullptr) break;
          g_depot.blocks_trimmed += taken[n].count;
        }
      }
      for (std::size_t i = 0; i < n; ++i) FreeChain(taken[i].head, taken[i].count, c);
      if (n < kChunk) break;
    }
  }
}

GlobalStats DepotStats() noexcept {
  GlobalStats s{};
  s.depot_budget = DepotBudgetBytes();
  DepotLocked lock;
  s.depot_bytes = g_depot.bytes;
  s.depot_blocks = g_depot.blocks;
  s.depot_batches = g_depot.batches;
  s.batches_put = g_depot.batches_put;
  s.batches_taken = g_depot.batches_taken;
  s.batches_refused = g_depot.batches_refused;
  s.blocks_trimmed = g_depot.blocks_trimmed;
  return s;
}

std::uint32_t ChainLength(const Block* h, std::uint32_t limit) noexcept {
  std::uint32_t n = 0;
  while (h != nullptr && n <= limit) {
    if ((reinterpret_cast<std::uintptr_t>(h) & (kAlignment - 1)) != 0) return limit + 1;
    if (!ReadTag(h).ok) return limit + 1;  // HDR-2: its link cannot be trusted
    ++n;
    h = DecodeLink(LoadWord(h));
  }
  return n;
}

ValidationResult ValidateDepot() noexcept {
  DepotLocked lock;
  std::size_t bytes = 0, blocks = 0, batches = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    if (g_depot.nbatches[c] > kDepotSlots)
      return {"INV-DEPOT", &g_depot.nbatches[c], "more batches than slots"};
    for (std::uint32_t i = 0; i < g_depot.nbatches[c]; ++i) {
      const Batch& b = g_depot.slots[c][i];
      if (ChainLength(b.head, b.count) != b.count)
        return {"INV-DEPOT", b.head, "a depot batch's chain does not have its count"};
      for (const Block* h = b.head; h != nullptr; h = DecodeLink(LoadWord(h))) {
        const Tag tag = ReadTag(h);
        if (!tag.ok || tag.kind != c || (kChecked && tag.state != kStateCached))
          return {"INV-DEPOT", h, "a depot block is not tagged as cached in its class"};
      }
      bytes += std::size_t{b.count} * kClassSize[c];
      blocks += b.count;
      batches += 1;
    }
  }
  if (bytes != g_depot.bytes || blocks != g_depot.blocks || batches != g_depot.batches)
    return {"INV-DEPOT", &g_depot, "the depot's totals do not match its batches"};
  return {nullptr, nullptr, nullptr};
}

}  // namespace detail
}  // namespace concalloc
