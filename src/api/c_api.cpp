// The C API (CAPI-1, CAPI-2): never throws; failure is NULL with errno.
#include <cerrno>

#include <concalloc/concalloc.h>

#include "cache/thread_cache.h"

extern "C" {

void* concalloc_alloc(size_t size) { return concalloc::detail::AllocFast<false>(size); }

void concalloc_free(void* p) { concalloc::detail::FreeFast(p); }

size_t concalloc_usable_size(const void* p) { return concalloc::UsableSize(p); }

void* concalloc_alloc_aligned(size_t size, size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {  // CAPI-2
    errno = EINVAL;
    return nullptr;
  }
  if (alignment <= concalloc::detail::kAlignment)
    return concalloc::detail::AllocFast<false>(size);
  return concalloc::detail::AllocAlignedSlow<false>(size, alignment);
}

void concalloc_flush_thread_cache(void) { concalloc::detail::FlushCache(); }

void concalloc_trim(void) { concalloc::detail::TrimAll(); }

}  // extern "C"

// CHECK-TABLE: concalloc's own C API, for `concalloc-check concrt`.
#include <concalloc/check.h>
extern "C" CONCALLOC_API const concalloc_check_table concalloc_check_table = {
    CONCALLOC_CHECK_TABLE_VERSION, concalloc_alloc,  concalloc_free, concalloc_usable_size,
    concalloc_alloc_aligned,       concalloc_flush_thread_cache};
