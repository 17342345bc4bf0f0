#include "config.h"

#include <atomic>

#include <concalloc/concalloc.h>

#include "platform.h"

namespace concalloc {
namespace detail {
namespace {
// -1 until the environment is read or SetCacheDepth is called.
std::atomic<long> g_depth{-1};
}  // namespace

std::size_t ParseDepth(const char* text) noexcept {
  if (text == nullptr || *text == '\0') return kDefaultCacheDepth;
  std::size_t v = 0;
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return kDefaultCacheDepth;
    v = v * 10 + static_cast<std::size_t>(*c - '0');
    if (v > kMaxCacheDepth) return kDefaultCacheDepth;
  }
  return v;
}

std::size_t ConfiguredDepth() noexcept {
  long v = g_depth.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<std::size_t>(v);
  // Read once: the first caller stores it, unless SetCacheDepth came first.
  long expected = -1;
  long parsed = static_cast<long>(ParseDepth(platform::GetEnv("CONCALLOC_CACHE_DEPTH")));
  g_depth.compare_exchange_strong(expected, parsed, std::memory_order_relaxed);
  return static_cast<std::size_t>(g_depth.load(std::memory_order_relaxed));
}
}  // namespace detail

bool SetCacheDepth(std::size_t depth) noexcept {
  if (depth > kMaxCacheDepth) return false;
  detail::g_depth.store(static_cast<long>(depth), std::memory_order_relaxed);
  return true;
}

std::size_t CacheDepth() noexcept { return detail::ConfiguredDepth(); }

}  // namespace concalloc
