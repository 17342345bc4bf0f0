// CONF-DEPTH, DEPOT-BUDGET: the run-time settings. Each is read once from
// its environment variable, at first use, unless the program set it first.
#ifndef CONCALLOC_SRC_CONFIG_H
#define CONCALLOC_SRC_CONFIG_H

#include <atomic>
#include <cstddef>

namespace concalloc::detail {

constexpr std::size_t kDefaultCacheDepth = 32;
constexpr std::size_t kDefaultDepotBytes = std::size_t{8} << 20;

// The value of text as a decimal number in [0, max], or fallback when text is
// unset, empty, not a decimal number or above max.
std::size_t ParseSetting(const char* text, std::size_t fallback, std::size_t max) noexcept;

class Setting {
 public:
  constexpr Setting(const char* env, std::size_t fallback, std::size_t max)
      : env_(env), fallback_(fallback), max_(max) {}
  // The program's value if it set one, else the environment's (read once).
  std::size_t Get() noexcept;
  // False, changing nothing, above max.
  bool Set(std::size_t value) noexcept;

 private:
  const char* env_;
  std::size_t fallback_;
  std::size_t max_;
  std::atomic<long long> value_{-1};  // -1: not read yet
};

// CONF-DEPTH: the depth a cache takes when it is created or flushed.
extern Setting g_cache_depth;
// DEPOT-BUDGET: the depot's byte budget; 0: no depot.
extern Setting g_depot_budget;

}  // namespace concalloc::detail

#endif
