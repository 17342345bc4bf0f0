// Platform details behind one small header: compiler attributes, static TLS,
// the thread-exit hook, process randomness, environment and stderr.
// Nothing else in src/ uses #ifdef for the platform.
#ifndef CONCALLOC_SRC_PLATFORM_H
#define CONCALLOC_SRC_PLATFORM_H

#include <cstddef>
#include <cstdint>

#define CONCALLOC_ALWAYS_INLINE inline __attribute__((always_inline))
#define CONCALLOC_NOINLINE __attribute__((noinline))
#define CONCALLOC_COLD __attribute__((noinline, cold))
#define CONCALLOC_LIKELY(x) __builtin_expect(!!(x), 1)
#define CONCALLOC_UNLIKELY(x) __builtin_expect(!!(x), 0)
// FAST-2: static TLS in the shared library too: no __tls_get_addr call.
#define CONCALLOC_STATIC_TLS __attribute__((tls_model("initial-exec")))
// MALLOC-LEAN: a large zero-filled array (the depot's shards, the no-cache
// sentinel) goes to a .bss section of its own, which libconcalloc-malloc's
// link with --sort-section=name (CMakeLists.txt) places after every object's plain
// .bss, whatever the compiler's order of definitions and the sources': the
// small globals share the data page the loader touches anyway, and a
// process that never reaches the depot touches no page of the arrays.
#define CONCALLOC_LARGE_BSS __attribute__((section(".bss.concalloc_large")))

namespace concalloc::platform {

// A spin-wait hint to the processor.
inline void CpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// DEPOT-LISTED: for each of the n pointers, prefetches the cache lines of
// [ptr + offset, ptr + offset + bytes) for writing: PREFETCHW where the
// processor has it (it fetches a line another core wrote without leaving
// that core a copy to invalidate later), a plain prefetch elsewhere. A
// hint: any address may be given, nothing faults.
void PrefetchForWrite(const void* const* ptrs, std::size_t n, std::ptrdiff_t offset,
                      std::size_t bytes) noexcept;

// DEPOT-LOCK: sleeps while *word == expected (a futex wait; it may return
// early, the caller checks again), and wakes one thread sleeping on word.
void FutexWait(const std::uint32_t* word, std::uint32_t expected) noexcept;
void FutexWakeOne(const std::uint32_t* word) noexcept;

// Runs fn(arg) when the calling thread exits (a pthread key destructor).
// Returns false when it cannot be arranged (then nothing is registered).
bool AtThreadExit(void (*fn)(void*), void* arg) noexcept;

// LIFE-6: a token that a thread holds for as long as it lives. Once the
// thread has exited, whether or not it released the token, any other thread
// can tell: it is a robust mutex, which the kernel marks when its owner dies.
struct alignas(8) LifeToken {
  unsigned char opaque[48];
};
// The calling thread takes a new token; false if it cannot.
bool HoldLifeToken(LifeToken& token) noexcept;
// Its owner gives it up and destroys it (at the thread's teardown).
void ReleaseLifeToken(LifeToken& token) noexcept;
// Another thread asks: true when the owner has died holding it; the token
// is then destroyed. False while the owner lives.
bool LifeTokenOwnerDied(LifeToken& token) noexcept;
// In the child of fork(), the forking thread takes its token anew (the
// child's thread has another kernel id, and no robust list of its parent's).
void RenewLifeTokenInChild(LifeToken& token) noexcept;

// HARD-SECRET: fills out[0..n) with bytes from the kernel's random source
// (getrandom(2), without blocking), never from AT_RANDOM, whose bytes are
// the stack protector's canary and the pointer guard. Where getrandom is
// not served (before the kernel's pool is ready, or filtered), a hash of
// clocks, the cycle counter, ids and addresses (ASLR): weaker, and said so
// in SPEC. Does not allocate.
void KernelRandom(void* out, std::size_t n) noexcept;

// CHK-FOREIGN: copies n bytes at p to out when the process may read them
// all (process_vm_readv on itself: the kernel checks the mapping and its
// protection; where that call is refused, mincore(2) checks the mapping);
// false, with nothing read, when it may not. Does not allocate.
bool ReadSafely(const void* p, void* out, std::size_t n) noexcept;

// Gives the processor up (sched_yield).
void Yield() noexcept;

// getenv; does not allocate.
const char* GetEnv(const char* name) noexcept;

// One write(2) to stderr; does not allocate.
void WriteStderr(const char* text, std::size_t length) noexcept;

[[noreturn]] void Abort() noexcept;

// DEPOT-QUIET: asks the C heap to return its free pages to the system
// (glibc: malloc_trim(0)).
void HeapTrim() noexcept;

// The size of a memory page.
std::size_t PageSize() noexcept;

// HEAP-SPAN: `bytes` (a power of two, at least a page) of zeroed memory
// mapped from the system, aligned to `bytes`; nullptr when the system has
// none. UnmapAligned gives such a mapping back whole. Neither allocates.
void* MapAligned(std::size_t bytes) noexcept;
void UnmapAligned(void* p, std::size_t bytes) noexcept;
// HEAP-CACHE: the pages of [p, p + bytes) (page-aligned) go back to the
// system; the range stays mapped and reads as zeros (MADV_DONTNEED).
void ReleasePages(void* p, std::size_t bytes) noexcept;

// SAN-SCRUB: calls fn(a, b) and, before returning its result, zeroes the
// kScrubBytes of stack below the caller's frame that fn and its callees
// used, so that no stale copy of a block's address stays there for a leak
// checker to find. On x86-64 a few instructions of assembly (platform.cpp):
// the result lives in registers only, never in a stack slot; elsewhere a
// best effort in C++ (a volatile buffer below the caller's frame).
using ScrubbedFn = std::uintptr_t (*)(std::uintptr_t, std::uintptr_t) noexcept;
constexpr std::size_t kScrubBytes = 4096;
std::uintptr_t CallAndScrub(ScrubbedFn fn, std::uintptr_t a, std::uintptr_t b) noexcept;

}  // namespace concalloc::platform

#endif
