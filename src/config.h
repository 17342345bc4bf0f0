// CONF-DEPTH: the configured bound on each per-class list.
#ifndef CONCALLOC_SRC_CONFIG_H
#define CONCALLOC_SRC_CONFIG_H

#include <cstddef>

namespace concalloc::detail {

constexpr std::size_t kDefaultCacheDepth = 32;

// The depth a cache takes when it is created or flushed: SetCacheDepth's
// value if it was called, else CONCALLOC_CACHE_DEPTH (read once), else 32.
std::size_t ConfiguredDepth() noexcept;

// CONF-DEPTH: the environment value, or kDefaultCacheDepth when it is unset
// or not a decimal number in [0, kMaxCacheDepth].
std::size_t ParseDepth(const char* text) noexcept;

}  // namespace concalloc::detail

#endif
