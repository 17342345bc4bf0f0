// libconcalloc-malloc (MALLOC-*): the per-thread cache in front of glibc's
// allocator for a whole program, preloaded or linked. Every entry point glibc
// documents for a replacement malloc. The C++ operator new/delete family is
// the C++ runtime's own, which calls malloc and free (MALLOC-NEW): so this
// library needs no C++ runtime, and a process that loads it loads no more
// than the C library it sits on (MALLOC-LEAN).
#include <errno.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <concalloc/concalloc.h>

#include "modes/checked.h"
#include "platform/platform.h"
#include "cache/thread_cache.h"

namespace {

using concalloc::detail::AllocAlignedSlow;
using concalloc::detail::AllocFast;
using concalloc::detail::FreeFast;
using concalloc::detail::kAlignment;

bool PowerOfTwo(std::size_t a) { return a != 0 && (a & (a - 1)) == 0; }

// NULL with errno = ENOMEM on failure (CAPI-1).
void* AlignedOrNull(std::size_t alignment, std::size_t size) {
  if (alignment <= kAlignment) return AllocFast<false>(size);
  return AllocAlignedSlow<false>(size, alignment);
}

// MALLOC-STATS: CONCALLOC_SHOW_STATS=1 prints the exiting thread's and the
// depot's counters at exit, before the thread's cache is torn down (to
// stderr, if the program has not closed it by then).
void PrintStats() {
  const concalloc::ThreadStats t = concalloc::GetThreadStats();
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  using ull = unsigned long long;
  char line[768];
  const int n = std::snprintf(
      line, sizeof line,
      "concalloc: main thread: %zu blocks cached (%zu bytes), %llu hits, %llu misses, "
      "%llu frees cached; depot: %zu bytes in %zu batches (limit %zu KiB, doubled %llu times), "
      "%llu put, %llu taken, %llu refused, "
      "%llu evicted; moved %llu blocks with %llu lock acquisitions (%llu contended) and %llu "
      "budget RMWs, %llu blocks prefetched; heap: %zu spans (%zu KiB, %zu kept empty), %zu blocks out, %llu spans "
      "made, %llu of them from %zu KiB of cached spans\n",
      t.cached_blocks, t.cached_bytes, static_cast<ull>(t.alloc_hits),
      static_cast<ull>(t.alloc_misses), static_cast<ull>(t.frees_cached), g.depot_bytes,
      g.depot_batches, g.depot_budget / 1024, static_cast<ull>(g.depot_budget_growths),
      static_cast<ull>(g.batches_put), static_cast<ull>(g.batches_taken),
      static_cast<ull>(g.batches_refused), static_cast<ull>(g.batches_evicted),
      static_cast<ull>(g.blocks_moved), static_cast<ull>(g.lock_acquisitions),
      static_cast<ull>(g.lock_contended), static_cast<ull>(g.budget_rmws),
      static_cast<ull>(g.blocks_prefetched), g.heap_spans,
      g.heap_span_bytes / 1024, g.heap_empty_spans, g.heap_blocks_out,
      static_cast<ull>(g.heap_spans_made), static_cast<ull>(g.heap_spans_reused),
      g.heap_cached_span_bytes / 1024);
  if (n > 0) concalloc::platform::WriteStderr(line, static_cast<std::size_t>(n));
}

__attribute__((constructor)) void RegisterStats() {
  const char* show = concalloc::platform::GetEnv("CONCALLOC_SHOW_STATS");
  if (show != nullptr && show[0] == '1') concalloc::detail::g_exit_report = &PrintStats;
}

}  // namespace

extern "C" {

// MALLOC-1: malloc is concalloc_alloc, free is concalloc_free. MALLOC-TLS:
// both reach the thread cache through initial-exec TLS (FAST-2), and after a
// thread's cache is torn down take the static path (LIFE-2).
CONCALLOC_API void* malloc(std::size_t size) { return AllocFast<false>(size); }

// MALLOC-ERRNO: free preserves errno (nothing on its paths sets it).
CONCALLOC_API void free(void* p) { FreeFast(p); }
CONCALLOC_API void cfree(void* p) { FreeFast(p); }

// MALLOC-CALLOC: overflow is ENOMEM; the memory is zeroed (a cached block
// is not; a large block fresh from the system is not written).
CONCALLOC_API void* calloc(std::size_t n, std::size_t size) {
  std::size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (total > concalloc::detail::kMaxSmall) return concalloc::detail::AllocLargeZeroed(total);
  void* p = AllocFast<false>(total);
  if (p != nullptr) std::memset(p, 0, total);  // a cached block is not zero
  return p;
}

// MALLOC-REALLOC: realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and
// returns NULL (glibc's behaviour); in place when n fits the block and is at
// least half of it; else a new block, the bytes copied, the old one freed;
// on failure NULL with ENOMEM and p untouched. A large block resized to a
// large size goes through the C heap's realloc (mremap, no copy).
CONCALLOC_API void* realloc(void* p, std::size_t size) {
  if (p == nullptr) return AllocFast<false>(size);
  if (size == 0) {
    FreeFast(p);
    return nullptr;
  }
  const std::size_t usable = concalloc::UsableSize(p);
  if (size <= usable && size >= usable / 2) return p;
  if (void* moved; concalloc::detail::ReallocLarge(p, size, &moved)) return moved;
  void* q = AllocFast<false>(size);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, size < usable ? size : usable);
  FreeFast(p);
  return q;
}

CONCALLOC_API void* reallocarray(void* p, std::size_t n, std::size_t size) {
  std::size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, total);
}

// MALLOC-ALIGN: alignments are validated (EINVAL); memory from every one of
// these is released with free.
CONCALLOC_API int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  if (!PowerOfTwo(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  const int saved = errno;
  void* p = AlignedOrNull(alignment, size);
  errno = saved;  // posix_memalign reports through its result only
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

CONCALLOC_API void* aligned_alloc(std::size_t alignment, std::size_t size) {
  if (!PowerOfTwo(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  return AlignedOrNull(alignment, size);
}

CONCALLOC_API void* memalign(std::size_t alignment, std::size_t size) {
  return aligned_alloc(alignment, size);
}

CONCALLOC_API void* valloc(std::size_t size) { return AlignedOrNull(concalloc::platform::PageSize(), size); }

CONCALLOC_API void* pvalloc(std::size_t size) {
  const std::size_t page = concalloc::platform::PageSize();
  if (size > SIZE_MAX - page) {
    errno = ENOMEM;
    return nullptr;
  }
  return AlignedOrNull(page, (size + page - 1) & ~(page - 1));
}

CONCALLOC_API std::size_t malloc_usable_size(void* p) { return concalloc::UsableSize(p); }

}  // extern "C"

