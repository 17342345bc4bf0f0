// SAN-*: what the allocator tells AddressSanitizer and Valgrind memcheck, so
// that they see through the cache: a cached block is inaccessible, a live
// block's header and slack are inaccessible, and only the requested bytes of
// a live block are usable. Without either tool (the default), every hook is
// empty and every accessor a plain load or store (SAN-ZERO-COST).
#ifndef CONCALLOC_SRC_SANITIZER_HOOKS_H
#define CONCALLOC_SRC_SANITIZER_HOOKS_H

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "platform/build_config.h"
#include "platform/platform.h"

#if defined(__SANITIZE_ADDRESS__)
#define CONCALLOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONCALLOC_ASAN 1
#endif
#endif
#ifndef CONCALLOC_ASAN
#define CONCALLOC_ASAN 0
#endif
// CONCALLOC_VALGRIND: a build option (the valgrind preset); client requests
// cost a few instructions even outside Valgrind, so release builds omit them.
#ifndef CONCALLOC_VALGRIND
#define CONCALLOC_VALGRIND 0
#endif

#if CONCALLOC_ASAN
#include <sanitizer/asan_interface.h>
#endif
// Set by the build when a sanitizer runtime is linked (CONCALLOC_SANITIZE).
#ifndef CONCALLOC_SANITIZER_RUNTIME
#define CONCALLOC_SANITIZER_RUNTIME 0
#endif
#if CONCALLOC_SANITIZER_RUNTIME
#include <sanitizer/common_interface_defs.h>
#endif
#if CONCALLOC_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

namespace concalloc::detail::san {

constexpr bool kAsan = CONCALLOC_ASAN != 0;
constexpr bool kValgrind = CONCALLOC_VALGRIND != 0;
// SAN-USABLE: under either tool only the requested bytes are usable, so
// UsableSize is the requested size (as ASan's malloc_usable_size is).
constexpr bool kExactUsable = kAsan || kValgrind;
// SAN-SCRUB: under ASan the slow paths zero the stack they used
// (platform::CallAndScrub), so that LeakSanitizer finds no stale copy of a
// block's address there. (Memcheck does not scan below the stack pointer.)
constexpr bool kScrubStack = kAsan && kMutant != kMutantNoScrub;

// Loads and stores of allocator metadata in memory the user may not touch
// (headers, cached blocks). Under ASan they run in functions that ASan does
// not instrument (sanitizer_hooks.cpp); under Valgrind the word is made
// accessible for the access only.
std::uint64_t UncheckedLoad(const std::uint64_t* p) noexcept;
void UncheckedStore(std::uint64_t* p, std::uint64_t v) noexcept;

CONCALLOC_ALWAYS_INLINE std::uint64_t LoadMeta(const std::uint64_t* p) noexcept {
  if constexpr (kAsan) {
    return UncheckedLoad(p);
  } else {
#if CONCALLOC_VALGRIND
    VALGRIND_MAKE_MEM_DEFINED(p, sizeof *p);
    const std::uint64_t v = *p;
    VALGRIND_MAKE_MEM_NOACCESS(p, sizeof *p);
    return v;
#else
    return *p;
#endif
  }
}

CONCALLOC_ALWAYS_INLINE void StoreMeta(std::uint64_t* p, std::uint64_t v) noexcept {
  if constexpr (kAsan) {
    UncheckedStore(p, v);
  } else {
#if CONCALLOC_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(p, sizeof *p);
    *p = v;
    VALGRIND_MAKE_MEM_NOACCESS(p, sizeof *p);
#else
    *p = v;
#endif
  }
}

// SAN-LIVE: a block is handed to the user: header and slack inaccessible,
// the requested bytes usable (and undefined, for memcheck). `block` is the
// header's address (16-aligned), `user` the caller's pointer.
CONCALLOC_ALWAYS_INLINE void BlockOut(void* block, void* user, std::size_t requested,
                                      std::size_t usable) noexcept {
#if CONCALLOC_ASAN
  // SAN-GRANULE: poison from the 16-aligned header to the end, then unpoison
  // exactly the requested bytes: ASan records the last partial 8-byte
  // granule as "the first k bytes addressable", so a one-byte overflow past
  // any requested size is seen.
  ASAN_POISON_MEMORY_REGION(block, static_cast<char*>(user) - static_cast<char*>(block) + usable);
  ASAN_UNPOISON_MEMORY_REGION(user, requested);
#endif
#if CONCALLOC_VALGRIND
  VALGRIND_MALLOCLIKE_BLOCK(user, requested, 0, 0);
  VALGRIND_MAKE_MEM_NOACCESS(static_cast<char*>(user) + requested, usable - requested);
  VALGRIND_MAKE_MEM_NOACCESS(block, static_cast<char*>(user) - static_cast<char*>(block));
#endif
  (void)block, (void)user, (void)requested, (void)usable;
}

// SAN-FREE: Free takes a live block back. Its bytes become the allocator's
// (writable for the checked fill) until BlockCached or BlockToBackend.
CONCALLOC_ALWAYS_INLINE void BlockIn(void* user, std::size_t usable) noexcept {
#if CONCALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(user, usable);
#endif
#if CONCALLOC_VALGRIND
  VALGRIND_FREELIKE_BLOCK(user, 0);
  VALGRIND_MAKE_MEM_UNDEFINED(user, usable);
#endif
  (void)user, (void)usable;
}

// SAN-CACHED: a block in a list or the depot: no byte of it is accessible
// to the user, except (ASan) its link word, which LeakSanitizer must read to
// find the rest of the list (it does not scan poisoned memory), so that
// cached blocks are never reported as leaks. The link word (HDR-1): the
// header's word in checked builds (16 bytes below the user's pointer), its
// tag in release builds (8 bytes below).
CONCALLOC_ALWAYS_INLINE void BlockCached(void* user, std::size_t usable) noexcept {
#if CONCALLOC_ASAN
  constexpr std::size_t kLinkBelow = kChecked ? 16 : 8;
  if constexpr (kMutant != kMutantNoPoison) ASAN_POISON_MEMORY_REGION(user, usable);
  if constexpr (kMutant != kMutantHiddenLinks)
    ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(user) - kLinkBelow, sizeof(std::uint64_t));
#endif
#if CONCALLOC_VALGRIND
  VALGRIND_MAKE_MEM_NOACCESS(user, usable);
#endif
  (void)user, (void)usable;
}

// A cached block leaves its list for the user (then BlockOut): its bytes
// become the allocator's, for the checked fill's check and refill.
CONCALLOC_ALWAYS_INLINE void BlockOpen(void* user, std::size_t usable) noexcept {
#if CONCALLOC_ASAN
  ASAN_UNPOISON_MEMORY_REGION(user, usable);
#endif
#if CONCALLOC_VALGRIND
  VALGRIND_MAKE_MEM_DEFINED(user, usable);
#endif
  (void)user, (void)usable;
}

// The allocator reads a cached block's bytes (fill checks) and leaves it
// cached: under Valgrind they are made readable for the read only. (Under
// ASan the reads run uninstrumented: FirstByteNot.)
CONCALLOC_ALWAYS_INLINE void PeekBegin(const void* user, std::size_t usable) noexcept {
#if CONCALLOC_VALGRIND
  VALGRIND_MAKE_MEM_DEFINED(user, usable);
#endif
  (void)user, (void)usable;
}
CONCALLOC_ALWAYS_INLINE void PeekEnd(const void* user, std::size_t usable) noexcept {
#if CONCALLOC_VALGRIND
  VALGRIND_MAKE_MEM_NOACCESS(user, usable);
#endif
  (void)user, (void)usable;
}

// SAN-FREE: a live block goes straight back to the backend (large,
// aligned, or a full list without depot).
CONCALLOC_ALWAYS_INLINE void LiveBlockToBackend(void* user) noexcept {
#if CONCALLOC_VALGRIND
  VALGRIND_FREELIKE_BLOCK(user, 0);
#endif
  (void)user;
}

// SAN-DIRECT: tool mode. Under AddressSanitizer (a library built with it)
// and under Valgrind (detected at run time, in any build), every Alloc and
// Free goes straight to the backend, one backend block per block and
// nothing cached, so that the tool's own allocator sees each one and
// reports exactly as it does for malloc: the allocating and freeing stacks,
// overflows past the requested size, double frees, leaks from the user's
// function. CONCALLOC_TOOL_CACHES=1 keeps the caches (to validate
// concalloc's own caches under the tool: SAN-CACHED and the rest). Decided
// once, at the first slow path of the process (never on a fast path: the
// fast paths find no cache and fall through to the slow paths in tool
// mode, as before a thread's cache exists).
bool DecideToolMode() noexcept;
extern std::atomic<int> g_tool_mode;  // -1 undecided, 0 caches, 1 tool mode
inline bool ToolMode() noexcept {
  const int m = g_tool_mode.load(std::memory_order_relaxed);
  return m >= 0 ? m != 0 : DecideToolMode();
}
// A tool-mode block is handed out or taken back: `raw` the backend's block,
// `user` the caller's pointer, `requested` the bytes asked, `span` the bytes
// from user to the end of the backend's block. Poisons (ASan) or tells
// memcheck (in every build, when running under Valgrind) that only the
// requested bytes are the user's.
void ToolBlockOut(void* raw, void* user, std::size_t requested, std::size_t span) noexcept;
// SAN-DIRECT, CHK-FOREIGN: whether `raw` is where the tool's allocator began
// a block, live or freed (a double free is the tool's to report). ASan is
// asked; elsewhere true (memcheck reports a bad free itself).
bool ToolBlockStart(const void* raw) noexcept;
// SAN-DIRECT: UsableSize of a tool-mode block. When the tool's allocator
// no longer owns `raw` (the block was freed), the tool reports it as it
// reports malloc_usable_size of a pointer it does not own, after one line
// of ours naming the caller's pointer `user`; does not return then.
void ToolCheckOwned(const void* raw, const void* user) noexcept;
// LIFE-3: whether anyone may look at this process's memory at exit: a
// checked build (CHK-WAF verifies what leaves), a sanitizer runtime (the
// library's, or LeakSanitizer's in the program), or Valgrind.
bool LeakCheckerMayLook() noexcept;
void ToolBlockIn(void* user) noexcept;

// SAN-DIAG: a CHK-* diagnostic under a tool also shows the caller's stack,
// from the tool itself (no malloc).
inline void PrintStack(const char* line) noexcept {
#if CONCALLOC_SANITIZER_RUNTIME
  __sanitizer_print_stack_trace();
#endif
#if CONCALLOC_VALGRIND
  VALGRIND_PRINTF_BACKTRACE("%s", line);
#endif
  (void)line;
}

}  // namespace concalloc::detail::san

#endif
