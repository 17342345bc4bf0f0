// DEPOT-BUDGET, DEPOT-GROW, INV-DEPOT-BOUND: the budget in force (the
// configured one, doubled while the depot is too small for a flow between
// threads) and the ceiling that Validate compares the reservation with
// across the budget's changes.
#include <algorithm>
#include <atomic>

#include "depot/depot.h"
#include "depot/depot_shard.h"
#include "platform/config.h"

namespace concalloc::detail {

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

}  // namespace

void NoteGaveBack(std::size_t cls, const DepotClient& client) noexcept {
  g_gave_back_by[cls].store(client.serial, std::memory_order_relaxed);
}

// DEPOT-GROW: a take found the depot empty (its thread goes to the backend
// for blocks of class cls). When another thread's put gave blocks of the
// class to the backend since the last such take, the depot was too small
// for the flow between them (what it gave back is needed again): the
// budget in force doubles, up to kMaxBudgetDoublings times. A thread's own
// evictions never grow it: alone, it uses the depot as its second cache
// level (DEPOT-SPILL), and its evictions give back what it did not reuse.
void NoteEmptyTake(std::size_t cls, const DepotClient& client) noexcept {
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

}  // namespace concalloc::detail
