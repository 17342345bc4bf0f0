// concalloc: a per-thread cache allocator for C++ on Linux.
//
// The contract is spec/SPEC.md; clause IDs in the comments below refer to it.
// This is the only header most users need.
#ifndef CONCALLOC_CONCALLOC_H
#define CONCALLOC_CONCALLOC_H

#include <stddef.h>

#include <concalloc/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C API (CAPI-1, CAPI-2). Never throws; failure returns NULL with errno set. */

/* CAPI-1: like concalloc::Alloc; NULL with errno = ENOMEM on failure. */
CONCALLOC_API void* concalloc_alloc(size_t size);
/* CAPI-1: like concalloc::Free. */
CONCALLOC_API void concalloc_free(void* p);
/* CAPI-1: like concalloc::UsableSize. */
CONCALLOC_API size_t concalloc_usable_size(const void* p);
/* CAPI-2: like concalloc::AllocAligned; NULL with errno = EINVAL when
   alignment is not a power of two, ENOMEM when memory cannot be had. */
CONCALLOC_API void* concalloc_alloc_aligned(size_t size, size_t alignment);
/* CAPI-1: like concalloc::FlushThreadCache. */
CONCALLOC_API void concalloc_flush_thread_cache(void);
/* CAPI-1: like concalloc::Trim. */
CONCALLOC_API void concalloc_trim(void);

#ifdef __cplusplus
}  // extern "C"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <type_traits>

#include <concalloc/inline.h>

namespace concalloc {

// ALLOC-1..ALLOC-5: at least `size` usable bytes, aligned to 16
// (alignof(std::max_align_t)). Alloc(0) returns a unique non-null pointer.
// Throws std::bad_alloc when the size cannot be represented (ALLOC-3) or the
// backend heap fails (ALLOC-4); nothing is lost or changed when it throws.
// Always a call (an exported function); InlineAlloc (inline.h) is the same
// with its hit path compiled into the caller (INLINE-1).
CONCALLOC_API void* Alloc(std::size_t size);

// FREE-1..FREE-3: releases a block from Alloc/AllocAligned (or the C API).
// Free(nullptr) does nothing. Any thread may free any block. InlineFree
// (inline.h) is the same with its hit path inline (INLINE-1).
CONCALLOC_API void Free(void* p) noexcept;

// USABLE-1: the bytes the caller may use in the block (>= the size asked;
// exactly the size asked in ASan and memcheck builds: SAN-USABLE).
CONCALLOC_API std::size_t UsableSize(const void* p) noexcept;

// ALIGN-1, ALIGN-2: `alignment` must be a power of two (any, up to 2^62);
// the block is aligned to max(alignment, 16) and released with Free.
CONCALLOC_API void* AllocAligned(std::size_t size, std::size_t alignment);

// FLUSH-1: returns every block cached by the calling thread to the backend.
CONCALLOC_API void FlushThreadCache() noexcept;

// CONF-DEPTH: the bound on each per-class list of thread caches created
// after this call (default 32, or CONCALLOC_CACHE_DEPTH). Returns false, and
// changes nothing, when depth > kMaxCacheDepth.
constexpr std::size_t kMaxCacheDepth = 65536;
CONCALLOC_API bool SetCacheDepth(std::size_t depth) noexcept;
// CONF-DEPTH: the depth that the next thread cache created will get.
CONCALLOC_API std::size_t CacheDepth() noexcept;

// DEPOT-BUDGET: the bound, in bytes, on the blocks held by the shared depot
// (default 8 MiB, or CONCALLOC_DEPOT_BYTES). 0 turns the depot off: the
// original's behaviour exactly. Returns false, changing nothing, above
// kMaxDepotBytes. DEPOT-GROW: a flow between threads that the depot is too
// small for doubles the budget in force (GlobalStats::depot_budget), up to
// 8 times this one; Trim(), the last worker's exit and SetDepotBudget set it
// back.
constexpr std::size_t kMaxDepotBytes = std::size_t{1} << 40;
CONCALLOC_API bool SetDepotBudget(std::size_t bytes) noexcept;
CONCALLOC_API std::size_t DepotBudget() noexcept;

// DEPOT-TRIM: gives the calling thread's cached blocks and every block in the
// depot back to the backend.
CONCALLOC_API void Trim() noexcept;

// STATS-1: counters of the calling thread's cache. The equations between
// them are INV-STATS in the spec.
struct ThreadStats {
  std::size_t cached_blocks;       // blocks now in this thread's cache
  std::size_t cached_bytes;        // their size, headers included
  std::uint64_t alloc_hits;        // Alloc served from this cache
  std::uint64_t alloc_misses;      // cacheable Alloc that found its list empty
  std::uint64_t frees_cached;      // Free that put a block into this cache
  std::uint64_t flushed_blocks;    // blocks moved from this cache to the backend
                                   // (FlushThreadCache, Trim, batches the depot
                                   // refused)
  std::uint64_t depot_blocks_in;   // blocks moved into this cache from the depot
  std::uint64_t backend_blocks_in; // blocks put into this cache from the backend
                                   // at a miss (CACHE-FILL)
  std::uint64_t depot_blocks_out;  // blocks moved from this cache to the depot
  std::uint64_t backend_allocs;    // blocks this thread took from the backend
  std::uint64_t backend_frees;     // blocks this thread gave to the backend
};
CONCALLOC_API ThreadStats GetThreadStats() noexcept;

// STATS-2: counters of the shared depot.
struct GlobalStats {
  std::size_t depot_budget;        // DEPOT-BUDGET in force
  std::size_t batch_record_bytes;  // what each batch costs the budget besides its
                                   // blocks (its record)
  std::size_t depot_bytes;         // bytes of the blocks in the depot now
  std::size_t depot_blocks;        // blocks in the depot now
  std::size_t depot_batches;       // batches in the depot now
  std::uint64_t batches_put;       // batches the depot accepted
  std::uint64_t batches_taken;     // batches threads took from it
  std::uint64_t batches_refused;   // batches sent to the backend instead
  std::uint64_t blocks_trimmed;    // blocks Trim (or DEPOT-QUIET) gave from the depot
                                   // to the backend
  std::uint64_t batches_evicted;   // old batches given to the backend to make room
                                   // for new ones (DEPOT-EVICT)
  // DEPOT-COUNTS: what moving blocks between threads costs in shared writes.
  std::uint64_t blocks_moved;      // blocks put into or taken from the depot
  std::uint64_t lock_acquisitions; // depot shard locks taken
  std::uint64_t lock_contended;    // of those, found held by another thread
  std::uint64_t budget_rmws;       // atomic read-modify-writes of the depot's byte count
  // HEAP-SPAN, HEAP-RETURN: the heap behind the caches (0 in ASan and
  // memcheck builds, which keep one backend block per class block).
  std::size_t heap_spans;          // spans held from the backend
  std::size_t heap_span_bytes;     // their bytes
  std::size_t heap_empty_spans;    // of those, kept empty (at most one per class)
  std::size_t heap_blocks_out;     // blocks carved from them and not given back:
                                   // live, cached or in the depot
  std::uint64_t heap_spans_made;      // spans taken from the backend, ever
  std::uint64_t heap_spans_returned;  // spans given back to it, ever
  std::uint64_t heap_blocks_taken;    // blocks the caches took from spans, ever
  std::uint64_t heap_blocks_given;    // blocks given back to spans, ever
  // HEAP-CACHE: empty spans held for the next span of any class (at most
  // 8 MiB; Trim() unmaps them), and how many spans were made from them.
  std::size_t heap_cached_span_bytes;
  std::uint64_t heap_spans_reused;
  // DEPOT-LISTED: blocks whose cache lines a take prefetched from their
  // batch's list.
  std::uint64_t blocks_prefetched;
  // DEPOT-GROW: the times the budget in force (depot_budget) doubled, ever;
  // it is at most 8 times DepotBudget(), and Trim() sets it back.
  std::uint64_t depot_budget_growths;
};
CONCALLOC_API GlobalStats GetGlobalStats() noexcept;

// VALIDATE-1: walks the calling thread's cache and the depot and checks
// every invariant
// (INV-*). `clause` is nullptr when all hold; otherwise the first violated
// clause ID, the address involved and a short reason (static strings).
struct ValidationResult {
  const char* clause;
  const void* address;
  const char* reason;
  explicit operator bool() const noexcept { return clause == nullptr; }
};
CONCALLOC_API ValidationResult Validate() noexcept;

// BUILD-1: how the library was built (checked builds: CHK-* clauses hold).
struct BuildInfo {
  bool checked;
  const char* mutant;      // non-empty only in the project's own mutant builds
  bool exact_usable_size;  // SAN-USABLE: ASan or memcheck build, UsableSize
                           // is the requested size
  bool hardened;           // HARD-LINK, HARD-DOUBLE: keyed links, double
                           // frees stopped (release builds by default)
  bool spans;              // HEAP-SPAN: class blocks are carved from spans
                           // (not in ASan and memcheck builds, nor tool mode)
  std::size_t header_bytes;  // HDR-1: a class block's header, 8 or 16 bytes:
                             // a request of n bytes is a class block when
                             // n + header_bytes <= 8192 (SIZE-2)
  bool mapped_spans;         // HEAP-SPAN, HEAP-CACHE: with the default backend
                             // spans are mapped from the system (not where a
                             // leak checker may look: checked and sanitizer
                             // builds, Valgrind), and empty ones are cached
};
CONCALLOC_API BuildInfo GetBuildInfo() noexcept;

// STD-ALLOC-1: a standard allocator over Alloc/Free (their inline forms,
// INLINE-1).
template <class T>
class Allocator {
 public:
  using value_type = T;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using propagate_on_container_move_assignment = std::true_type;
  using is_always_equal = std::true_type;

  Allocator() noexcept = default;
  template <class U>
  Allocator(const Allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) {
#if defined(__cpp_exceptions)
      throw std::bad_array_new_length();
#else
      __builtin_trap();  // code built without exceptions (libconcalloc-malloc's)
#endif
    }
    if constexpr (alignof(T) > alignof(std::max_align_t))
      return static_cast<T*>(AllocAligned(n * sizeof(T), alignof(T)));
    else
      return static_cast<T*>(InlineAlloc(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept { InlineFree(p); }

  template <class U>
  bool operator==(const Allocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const Allocator<U>&) const noexcept { return false; }
};

}  // namespace concalloc

// CLASSNEW-1: class-level operator new/delete through Alloc/Free, every form
// (plain, nothrow, array, sized, align_val_t); the plain and sized forms
// through their inline forms (INLINE-1). Put it in a class body, or
// derive from concalloc::CachedNew.
#define CONCALLOC_CLASS_ALLOCATION()                                                    \
  static void* operator new(std::size_t n) { return ::concalloc::InlineAlloc(n); }      \
  static void* operator new[](std::size_t n) { return ::concalloc::InlineAlloc(n); }    \
  static void* operator new(std::size_t n, const std::nothrow_t&) noexcept {            \
    return ::concalloc_alloc(n);                                                        \
  }                                                                                     \
  static void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {          \
    return ::concalloc_alloc(n);                                                        \
  }                                                                                     \
  static void* operator new(std::size_t n, std::align_val_t a) {                        \
    return ::concalloc::AllocAligned(n, static_cast<std::size_t>(a));                   \
  }                                                                                     \
  static void* operator new[](std::size_t n, std::align_val_t a) {                      \
    return ::concalloc::AllocAligned(n, static_cast<std::size_t>(a));                   \
  }                                                                                     \
  static void operator delete(void* p) noexcept { ::concalloc::InlineFree(p); }         \
  static void operator delete[](void* p) noexcept { ::concalloc::InlineFree(p); }       \
  static void operator delete(void* p, std::size_t) noexcept {                          \
    ::concalloc::InlineFree(p);                                                         \
  }                                                                                     \
  static void operator delete[](void* p, std::size_t) noexcept {                        \
    ::concalloc::InlineFree(p);                                                         \
  }                                                                                     \
  static void operator delete(void* p, std::align_val_t) noexcept {                     \
    ::concalloc::Free(p);                                                               \
  }                                                                                     \
  static void operator delete[](void* p, std::align_val_t) noexcept {                   \
    ::concalloc::Free(p);                                                               \
  }                                                                                     \
  static void operator delete(void* p, std::size_t, std::align_val_t) noexcept {        \
    ::concalloc::Free(p);                                                               \
  }                                                                                     \
  static void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {      \
    ::concalloc::Free(p);                                                               \
  }                                                                                     \
  static void operator delete(void* p, const std::nothrow_t&) noexcept {                \
    ::concalloc::Free(p);                                                               \
  }                                                                                     \
  static void operator delete[](void* p, const std::nothrow_t&) noexcept {              \
    ::concalloc::Free(p);                                                               \
  }

namespace concalloc {
// CLASSNEW-1: derive from this to allocate the class (and its derived
// classes) through Alloc/Free.
struct CachedNew {
  CONCALLOC_CLASS_ALLOCATION()
};
}  // namespace concalloc

#endif  // __cplusplus
#endif  // CONCALLOC_CONCALLOC_H
