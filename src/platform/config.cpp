#include "platform/config.h"

#include "platform/build_config.h"

#include <concalloc/concalloc.h>

#include "depot/depot.h"
#include "platform/platform.h"

// BUILD-3: the one definition of this build's switch symbol.
extern "C" const char CONCALLOC_CONFIG_SYMBOL = 0;

namespace concalloc {
namespace detail {

std::size_t ParseSetting(const char* text, std::size_t fallback, std::size_t max) noexcept {
  if (text == nullptr || *text == '\0') return fallback;
  std::size_t v = 0;
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return fallback;
    v = v * 10 + static_cast<std::size_t>(*c - '0');
    if (v > max) return fallback;
  }
  return v;
}

std::size_t Setting::Get() noexcept {
  const long long v = value_.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<std::size_t>(v);
  // The first reader stores the environment's value, unless Set came first.
  long long expected = -1;
  const auto parsed = static_cast<long long>(ParseSetting(platform::GetEnv(env_), fallback_, max_));
  value_.compare_exchange_strong(expected, parsed, std::memory_order_relaxed);
  return static_cast<std::size_t>(value_.load(std::memory_order_relaxed));
}

bool Setting::Set(std::size_t value) noexcept {
  if (value > max_) return false;
  value_.store(static_cast<long long>(value), std::memory_order_relaxed);
  return true;
}

Setting g_cache_depth{"CONCALLOC_CACHE_DEPTH", kDefaultCacheDepth, kMaxCacheDepth};
Setting g_depot_budget{"CONCALLOC_DEPOT_BYTES", kDefaultDepotBytes, kMaxDepotBytes};

}  // namespace detail

bool SetCacheDepth(std::size_t depth) noexcept { return detail::g_cache_depth.Set(depth); }
std::size_t CacheDepth() noexcept { return detail::g_cache_depth.Get(); }

// DEPOT-BUDGET: a lower budget gives back the oldest batches until the
// depot fits it (INV-DEPOT-BOUND).
bool SetDepotBudget(std::size_t bytes) noexcept {
  detail::BudgetAboutToChange();  // INV-DEPOT-BOUND: the old budget's parts
  if (!detail::g_depot_budget.Set(bytes)) return false;
  detail::DepotTrimTo(bytes);
  return true;
}
std::size_t DepotBudget() noexcept { return detail::g_depot_budget.Get(); }

}  // namespace concalloc
