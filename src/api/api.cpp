// The C++ API (include/concalloc/concalloc.h): thin wrappers around the fast
// paths in thread_cache.h. The C API is in c_api.cpp.
#include <concalloc/concalloc.h>

#include "platform/build_config.h"
#include "modes/checked.h"
#include "depot/depot.h"
#include "heap/heap.h"
#include "cache/thread_cache.h"

namespace concalloc {

// MALLOC-LEAN: libconcalloc-malloc exports the C API and the malloc family,
// not the two functions that throw (the C++ runtime would come with them).
#if !CONCALLOC_LIBC_BACKEND
void* Alloc(std::size_t size) { return detail::AllocFast<true>(size); }
#endif

void Free(void* p) noexcept { detail::FreeFast(p); }

std::size_t UsableSize(const void* p) noexcept {
  if (p == nullptr) return 0;
  if (detail::san::ToolMode()) return detail::ToolUsableSize(p);  // SAN-DIRECT
  if constexpr (detail::kChecked) detail::CheckedKindOfFreed(p);  // a live block
  const detail::Block* h = detail::BlockOf(p);
  const detail::Tag tag = detail::ReadTag(h);
  // USABLE-1, SAN-USABLE
  if (tag.kind < detail::kNumClasses && !detail::san::kExactUsable)
    return detail::UserBytes(tag.kind);
  return detail::LoadWord(h);
}

#if !CONCALLOC_LIBC_BACKEND
void* AllocAligned(std::size_t size, std::size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)  // ALIGN-2
    detail::Die("ALIGN-2", reinterpret_cast<const void*>(alignment),
                "AllocAligned: the alignment is not a power of two");
  if (alignment <= detail::kAlignment) return detail::AllocFast<true>(size);
  return detail::AllocAlignedSlow<true>(size, alignment);
}
#endif

void FlushThreadCache() noexcept { detail::FlushCache(); }

void Trim() noexcept { detail::TrimAll(); }

ThreadStats GetThreadStats() noexcept { return detail::CacheStats(); }

GlobalStats GetGlobalStats() noexcept { return detail::DepotStats(); }

ValidationResult Validate() noexcept { return detail::ValidateCache(); }

BuildInfo GetBuildInfo() noexcept {
  return {detail::kChecked, detail::MutantName(),
          detail::san::kExactUsable || detail::san::ToolMode(), detail::kHardened,
          detail::kSpans && !detail::san::ToolMode(), detail::kBlockHeader,
          detail::kSpans && !detail::san::LeakCheckerMayLook()};
}

}  // namespace concalloc
