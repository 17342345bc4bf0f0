// The build's check tiers and seeded bugs, as constants. Each tier is its own
// switch (BUILD-2):
//   CONCALLOC_CHECKED          tier 1: client-misuse checks (CHK-*), fills,
//                              tag and link encoding.
//   CONCALLOC_ASSERTS          tier 2: internal asserts (cheap, local).
//   CONCALLOC_INVARIANT_WALKS  tier 3: the whole-cache walk (Validate) after
//                              every slow-path operation (expensive).
//   CONCALLOC_MUTANT           a seeded bug, for the project's own mutant
//                              tests only (MUT-1); 0 in every real build.
#ifndef CONCALLOC_SRC_BUILD_CONFIG_H
#define CONCALLOC_SRC_BUILD_CONFIG_H

#ifndef CONCALLOC_CHECKED
#define CONCALLOC_CHECKED 0
#endif
#ifndef CONCALLOC_ASSERTS
#define CONCALLOC_ASSERTS 0
#endif
#ifndef CONCALLOC_INVARIANT_WALKS
#define CONCALLOC_INVARIANT_WALKS 0
#endif
#ifndef CONCALLOC_MUTANT
#define CONCALLOC_MUTANT 0
#endif
#ifndef CONCALLOC_VALGRIND
#define CONCALLOC_VALGRIND 0
#endif
#ifndef CONCALLOC_LIBC_BACKEND
#define CONCALLOC_LIBC_BACKEND 0
#endif
#ifndef CONCALLOC_HARDENED
#define CONCALLOC_HARDENED 1
#endif
// TRACE-BUILD: every protocol step appends an event to the trace (trace.h);
// never on in a release build, 0 everywhere else.
#ifndef CONCALLOC_TRACE
#define CONCALLOC_TRACE 0
#endif

// BUILD-3: every object of a library is built with the same switches. Each
// library object refers to a symbol named after the switches it was compiled
// with; only config.cpp defines one, so an object compiled with other
// switches (or none) leaves an undefined reference and the library does not
// link. (Tests, which are compiled once and linked against several builds,
// define CONCALLOC_TEST_OBJECT and refer to nothing.)
#define CONCALLOC_CONFIG_NAME5(c, a, w, v, l, h, t, m)                                \
  concalloc_build_config_checked##c##_asserts##a##_walks##w##_valgrind##v##_libc##l##_hardened##h##_trace##t##_mutant##m
#define CONCALLOC_CONFIG_NAME(c, a, w, v, l, h, t, m) CONCALLOC_CONFIG_NAME5(c, a, w, v, l, h, t, m)
#define CONCALLOC_CONFIG_SYMBOL                                                       \
  CONCALLOC_CONFIG_NAME(CONCALLOC_CHECKED, CONCALLOC_ASSERTS, CONCALLOC_INVARIANT_WALKS, \
                        CONCALLOC_VALGRIND, CONCALLOC_LIBC_BACKEND, CONCALLOC_HARDENED,   \
                        CONCALLOC_TRACE, CONCALLOC_MUTANT)
extern "C" const char CONCALLOC_CONFIG_SYMBOL;
#ifndef CONCALLOC_TEST_OBJECT
[[gnu::used]] static const char* const concalloc_config_of_this_object = &CONCALLOC_CONFIG_SYMBOL;
#endif

namespace concalloc::detail {

constexpr bool kChecked = CONCALLOC_CHECKED != 0;
constexpr bool kAsserts = CONCALLOC_ASSERTS != 0;
constexpr bool kInvariantWalks = CONCALLOC_INVARIANT_WALKS != 0;
constexpr bool kTrace = CONCALLOC_TRACE != 0;

// MUT-1: the seeded bugs. Each breaks exactly one clause.
enum Mutant : int {
  kMutantNone = 0,
  kMutantCacheBound = 1,   // a list may hold depth + 1 blocks (INV-CACHE-BOUND)
  kMutantDoubleFree = 2,   // Free of a cached block is not reported (CHK-DOUBLE)
  kMutantAlignment = 3,    // AllocAligned places blocks 16-aligned only (ALIGN-1)
  kMutantWriteAfterFree = 4,  // the 0xDD fill is not verified on reuse (CHK-WAF)
  kMutantLeakAtExit = 5,   // a thread's teardown drops its cached blocks (LIFE-1)
  kMutantFastPathAtomic = 6,  // Alloc's hit counter is an atomic RMW (FAST-1)
  kMutantSizeClass = 7,    // the class lookup forgets the header (USABLE-1)
  kMutantLostBlock = 8,    // a flush drops one block of each list (INV-CONSERVE)
  kMutantLargeSize = 9,    // a large block records a wrong size (SIZE-2)
  kMutantDepotNoLock = 10, // the depot is used without its lock (DEPOT-LOCK)
  kMutantNoPoison = 11,    // cached blocks are not hidden from ASan (SAN-CACHED)
  kMutantStats = 12,       // a refill from the depot is not counted (INV-STATS)
  kMutantInlineChecked = 13,  // a checked build publishes its cache to inline
                              // callers, who bypass the checks (INLINE-2)
  kMutantFillNone = 14,    // a miss takes one block from the backend (CACHE-FILL)
  kMutantForkDeadlock = 15,  // the forking thread waits for the locks it holds
                             // for the fork (LIFE-4)
  kMutantNoReap = 16,      // caches of threads that died without their
                           // teardown are never returned (LIFE-6)
  kMutantTagUnchecked = 17,  // the header's check leaves out the class and
                             // state bits (HDR-2)
  kMutantTrimUnverified = 18,  // blocks leaving through the depot to the
                               // backend are not verified (CHK-WAF)
  kMutantNoToolMode = 19,  // no tool mode under the tools (SAN-DIRECT)
  kMutantHiddenLinks = 20,  // cached blocks' links stay poisoned: LSan
                            // cannot follow a list (SAN-LEAK)
  kMutantEvictNewest = 21,  // a full depot gives back its newest batches,
                            // not its oldest (DEPOT-EVICT)
  kMutantNoBound = 22,      // the depot keeps a batch past its budget
                            // (INV-DEPOT-BOUND)
  kMutantNoQuiet = 23,      // the depot keeps what exited threads left in
                            // it when the process is down to one thread
                            // (DEPOT-QUIET)
  kMutantNoLinkCheck = 24,  // a pop follows a freed block's link without
                            // checking it (HARD-LINK)
  kMutantNoDoubleFreeCheck = 25,  // Free of a block that is already cached
                                  // is ignored, not reported (HARD-DOUBLE)
  kMutantTraceRefusedKept = 26,  // a refused batch is not given to the
                                 // backend (INV-CONSERVE; trace build)
  kMutantTraceTakeTwice = 27,    // a refill takes a batch and leaves it in
                                 // the depot (INV-OWNERSHIP; trace build)
  kMutantNoScrub = 28,     // the slow paths leave their stack as it is
                           // under ASan (SAN-SCRUB)
  kMutantToolForeign = 29,  // tool mode hands the tool's allocator any
                            // pointer's guess of a block (CHK-FOREIGN)
  kMutantSpareLost = 30,    // an exiting thread forgets its spares
                            // (INV-CONSERVE; DEPOT-XFER, DEPOT-EXIT)
  kMutantSpareUnbounded = 31,  // a spare never goes to the depot
                               // (INV-CACHE-BOUND)
  kMutantXferFixed = 32,    // transfers never grow past a spill (DEPOT-XFER)
  kMutantSegmentMiscount = 33,  // a spill's segment is marked one block
                                // longer than it is (DEPOT-SEGMENT, INV-SPARE)
  kMutantCreditLost = 34,   // a shard's credit past two chunks is dropped,
                            // not given back (DEPOT-CREDIT, INV-DEPOT-BOUND)
  kMutantCreditStranded = 35,  // a put that finds the budget full refuses
                               // without collecting the other shards'
                               // credit (DEPOT-CREDIT)
  kMutantCreditNone = 36,   // shards keep no credit: each batch reserves
                            // and releases its own bytes (DEPOT-CREDIT)
  kMutantSpanLinkUnchecked = 37,  // a span's free list follows a block's
                                  // link without checking its header (HEAP-LINK)
  kMutantSpanCheckOff = 38,  // a block given back is not checked against its
                             // span's record (HARD-SPAN)
  kMutantSpanHoard = 39,    // empty spans never go back to the backend
                            // (HEAP-RETURN)
  kMutantHeapNoLock = 40,   // the spans are used without their class's lock
                            // (HEAP-LOCK)
  kMutantSpanMiscount = 41,  // a take of several blocks counts one fewer out
                             // of its span, which then empties early (INV-SPAN)
  kMutantHeapUnsharded = 42,  // every thread carves from shard 0's spans
                              // (HEAP-SHARD)
  kMutantFillReversed = 43,   // a fill hands its blocks out last first
                              // (CACHE-FILL's order)
  kMutantSpanCacheUnbounded = 44,  // empty spans cached past kSpanCacheBytes
                                   // (HEAP-CACHE)
  kMutantListedSkewed = 45,   // a batch's list names its blocks one place
                              // off (INV-LISTED)
  kMutantListedUnused = 46,   // a take prefetches nothing from its batch's
                              // list (DEPOT-LISTED)
  kMutantGrowAlone = 47,      // a thread's own evictions grow the budget
                              // (DEPOT-GROW)
  kMutantGrowUnbounded = 48,  // the budget doubles past kMaxBudgetDoublings
                              // (DEPOT-GROW)
  kMutantMarkKeyed = 49,      // segment marks padded with the link key
                              // (HARD-SECRET)
  kMutantSpanLinkKept = 50,   // a block taken from its span keeps its link,
                              // an emptied span its blocks' links (HARD-SECRET)
  kMutantSpanFillUnchecked = 51,  // a block free in its span is handed out
                                  // unverified (CHK-WAF)
  kMutantListedKept = 52,     // a taken batch's list keeps naming its blocks
                              // under a leak checker (SAN-LEAK)
  kMutantQuietResident = 53,  // DEPOT-QUIET leaves the cached spans' pages
                              // resident (HEAP-CACHE)
};
constexpr Mutant kMutant = static_cast<Mutant>(CONCALLOC_MUTANT);
constexpr const char* MutantName() {
  switch (kMutant) {
    case kMutantCacheBound: return "cache_bound";
    case kMutantDoubleFree: return "double_free";
    case kMutantAlignment: return "alignment";
    case kMutantWriteAfterFree: return "write_after_free";
    case kMutantLeakAtExit: return "leak_at_exit";
    case kMutantFastPathAtomic: return "fast_path_atomic";
    case kMutantSizeClass: return "size_class";
    case kMutantLostBlock: return "lost_block";
    case kMutantLargeSize: return "large_size";
    case kMutantDepotNoLock: return "depot_no_lock";
    case kMutantNoPoison: return "no_poison";
    case kMutantStats: return "stats";
    case kMutantInlineChecked: return "inline_checked";
    case kMutantFillNone: return "fill_none";
    case kMutantForkDeadlock: return "fork_deadlock";
    case kMutantNoReap: return "no_reap";
    case kMutantTagUnchecked: return "tag_unchecked";
    case kMutantTrimUnverified: return "trim_unverified";
    case kMutantNoToolMode: return "no_tool_mode";
    case kMutantHiddenLinks: return "hidden_links";
    case kMutantEvictNewest: return "evict_newest";
    case kMutantNoBound: return "no_bound";
    case kMutantNoQuiet: return "no_quiet";
    case kMutantNoLinkCheck: return "no_link_check";
    case kMutantNoDoubleFreeCheck: return "no_double_free_check";
    case kMutantTraceRefusedKept: return "trace_refused_kept";
    case kMutantTraceTakeTwice: return "trace_take_twice";
    case kMutantNoScrub: return "no_scrub";
    case kMutantToolForeign: return "tool_foreign";
    case kMutantSpareLost: return "spare_lost";
    case kMutantSpareUnbounded: return "spare_unbounded";
    case kMutantXferFixed: return "xfer_fixed";
    case kMutantSegmentMiscount: return "segment_miscount";
    case kMutantCreditLost: return "credit_lost";
    case kMutantCreditStranded: return "credit_stranded";
    case kMutantCreditNone: return "credit_none";
    case kMutantSpanLinkUnchecked: return "span_link_unchecked";
    case kMutantSpanCheckOff: return "span_check_off";
    case kMutantSpanHoard: return "span_hoard";
    case kMutantHeapNoLock: return "heap_no_lock";
    case kMutantSpanMiscount: return "span_miscount";
    case kMutantHeapUnsharded: return "heap_unsharded";
    case kMutantFillReversed: return "fill_reversed";
    case kMutantSpanCacheUnbounded: return "span_cache_unbounded";
    case kMutantListedSkewed: return "listed_skewed";
    case kMutantListedUnused: return "listed_unused";
    case kMutantGrowAlone: return "grow_alone";
    case kMutantGrowUnbounded: return "grow_unbounded";
    case kMutantMarkKeyed: return "mark_keyed";
    case kMutantSpanLinkKept: return "span_link_kept";
    case kMutantSpanFillUnchecked: return "span_fill_unchecked";
    case kMutantListedKept: return "listed_kept";
    case kMutantQuietResident: return "quiet_resident";
    default: return "";
  }
}

}  // namespace concalloc::detail

#endif
