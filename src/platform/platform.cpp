#include "platform/platform.h"

#include "platform/build_config.h"

#include <malloc.h>
#include <pthread.h>
#include <linux/futex.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <sched.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace concalloc::platform {
namespace {
// One key for the library, created once (pthread_once: no C++ runtime, no
// allocation); every caller must pass the same fn (LIFE-1).
pthread_key_t g_exit_key;
pthread_once_t g_exit_key_once = PTHREAD_ONCE_INIT;
bool g_exit_key_ok = false;
std::atomic<void (*)(void*)> g_exit_fn{nullptr};
void CreateExitKey() { g_exit_key_ok = pthread_key_create(&g_exit_key, g_exit_fn.load()) == 0; }
}  // namespace

namespace {
template <typename Fetch>
CONCALLOC_ALWAYS_INLINE void PrefetchEach(const void* const* ptrs, std::size_t n,
                                          std::ptrdiff_t offset, std::size_t bytes,
                                          Fetch fetch) noexcept {
  for (std::size_t k = 0; k < n; ++k) {
    const auto start = reinterpret_cast<std::uintptr_t>(ptrs[k]) + static_cast<std::uintptr_t>(offset);
    for (std::uintptr_t p = start & ~std::uintptr_t{63}; p < start + bytes; p += 64) fetch(p);
  }
}
void PrefetchPlain(const void* const* ptrs, std::size_t n, std::ptrdiff_t offset,
                   std::size_t bytes) noexcept {
  PrefetchEach(ptrs, n, offset, bytes, [](std::uintptr_t p) {
    __builtin_prefetch(reinterpret_cast<const void*>(p), 1, 3);
  });
}
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("prfchw"))) void PrefetchExclusive(const void* const* ptrs, std::size_t n,
                                                         std::ptrdiff_t offset,
                                                         std::size_t bytes) noexcept {
  for (std::size_t k = 0; k < n; ++k) {
    const auto start = reinterpret_cast<std::uintptr_t>(ptrs[k]) + static_cast<std::uintptr_t>(offset);
    for (std::uintptr_t p = start & ~std::uintptr_t{63}; p < start + bytes; p += 64)
      __builtin_prefetch(reinterpret_cast<const void*>(p), 1, 3);  // PREFETCHW
  }
}
// CPUID 0x80000001: ECX bit 8, PRFCHW (Intel since Broadwell, AMD since K8).
bool HasPrefetchW() noexcept {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(0x80000001u, &a, &b, &c, &d) != 0 && (c & (1u << 8)) != 0;
}
#else
void PrefetchExclusive(const void* const* ptrs, std::size_t n, std::ptrdiff_t offset,
                       std::size_t bytes) noexcept {
  PrefetchPlain(ptrs, n, offset, bytes);
}
bool HasPrefetchW() noexcept { return false; }
#endif
std::atomic<int> g_prefetch_w{-1};  // not known yet
}  // namespace

void PrefetchForWrite(const void* const* ptrs, std::size_t n, std::ptrdiff_t offset,
                      std::size_t bytes) noexcept {
  int w = g_prefetch_w.load(std::memory_order_relaxed);
  if (w < 0) {
    w = HasPrefetchW() ? 1 : 0;
    g_prefetch_w.store(w, std::memory_order_relaxed);
  }
  if (w != 0)
    PrefetchExclusive(ptrs, n, offset, bytes);
  else
    PrefetchPlain(ptrs, n, offset, bytes);
}

bool AtThreadExit(void (*fn)(void*), void* arg) noexcept {
  void (*none)(void*) = nullptr;
  g_exit_fn.compare_exchange_strong(none, fn);  // the first caller's fn
  pthread_once(&g_exit_key_once, &CreateExitKey);
  return g_exit_key_ok && g_exit_fn.load() == fn && pthread_setspecific(g_exit_key, arg) == 0;
}

static_assert(sizeof(pthread_mutex_t) <= sizeof(LifeToken::opaque) &&
                  alignof(pthread_mutex_t) <= alignof(LifeToken),
              "LIFE-6: a LifeToken holds a pthread mutex");
namespace {
pthread_mutex_t* MutexOf(LifeToken& token) noexcept {
  return reinterpret_cast<pthread_mutex_t*>(token.opaque);
}
}  // namespace

bool HoldLifeToken(LifeToken& token) noexcept {
  pthread_mutexattr_t attr;
  if (pthread_mutexattr_init(&attr) != 0) return false;
  bool ok = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 &&
            pthread_mutex_init(MutexOf(token), &attr) == 0;
  pthread_mutexattr_destroy(&attr);
  if (ok && pthread_mutex_lock(MutexOf(token)) != 0) {
    pthread_mutex_destroy(MutexOf(token));
    ok = false;
  }
  return ok;
}

void ReleaseLifeToken(LifeToken& token) noexcept {
  pthread_mutex_unlock(MutexOf(token));
  pthread_mutex_destroy(MutexOf(token));
}

bool LifeTokenOwnerDied(LifeToken& token) noexcept {
  const int rc = pthread_mutex_trylock(MutexOf(token));
  if (rc == EOWNERDEAD) {
    // Ours now, and on our robust list: take it off before it is destroyed.
    pthread_mutex_consistent(MutexOf(token));
    pthread_mutex_unlock(MutexOf(token));
    pthread_mutex_destroy(MutexOf(token));
    return true;
  }
  if (rc == 0) pthread_mutex_unlock(MutexOf(token));  // not held: not ours to judge
  return false;
}

void RenewLifeTokenInChild(LifeToken& token) noexcept {
  // The parent's lock word names the parent's thread: start afresh.
  std::memset(token.opaque, 0, sizeof token.opaque);
  (void)HoldLifeToken(token);
}

void KernelRandom(void* out, std::size_t n) noexcept {
  auto* bytes = static_cast<unsigned char*>(out);
  std::size_t got = 0;
  while (got < n) {
    const long r = syscall(SYS_getrandom, bytes + got, n - got, GRND_NONBLOCK);
    if (r > 0) {
      got += static_cast<std::size_t>(r);
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // ENOSYS, EAGAIN (the pool is not ready), EPERM (filtered)
    }
  }
  if (got == n) return;
  // The fallback: a splitmix64 stream seeded from what differs between
  // processes and runs (never AT_RANDOM).
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  int on_stack = 0;
  std::uint64_t x = static_cast<std::uint64_t>(mono.tv_nsec) ^
                    static_cast<std::uint64_t>(real.tv_sec) << 32 ^
                    static_cast<std::uint64_t>(real.tv_nsec) ^
                    static_cast<std::uint64_t>(getpid()) << 40 ^
                    static_cast<std::uint64_t>(syscall(SYS_gettid)) << 20 ^
                    reinterpret_cast<std::uintptr_t>(&on_stack) ^
                    reinterpret_cast<std::uintptr_t>(&g_exit_key) * 0x9E3779B97F4A7C15ull;
#if defined(__x86_64__)
  x ^= __builtin_ia32_rdtsc() * 0xD1B54A32D192ED03ull;
#endif
  for (; got < n; ++got) {
    x += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    bytes[got] = static_cast<unsigned char>(z ^ (z >> 31));
  }
}

void Yield() noexcept { sched_yield(); }

bool ReadSafely(const void* p, void* out, std::size_t n) noexcept {
  iovec local{out, n};
  iovec remote{const_cast<void*>(p), n};
  const ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  if (got == static_cast<ssize_t>(n)) return true;
  if (got >= 0 || errno == EFAULT) return false;
  // Refused (ENOSYS, EPERM under a filter): is every page mapped?
  const std::uintptr_t page = PageSize();
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(p) & ~(page - 1);
  const std::uintptr_t last = (reinterpret_cast<std::uintptr_t>(p) + n - 1) & ~(page - 1);
  unsigned char vec[2];
  if (n == 0 || last - first > page ||
      mincore(reinterpret_cast<void*>(first), last - first + page, vec) != 0)
    return false;
  std::memcpy(out, p, n);
  return true;
}

const char* GetEnv(const char* name) noexcept { return std::getenv(name); }

void WriteStderr(const char* text, std::size_t length) noexcept {
  while (length > 0) {
    ssize_t n = ::write(STDERR_FILENO, text, length);
    if (n <= 0) return;
    text += n;
    length -= static_cast<std::size_t>(n);
  }
}

void Abort() noexcept { std::abort(); }

void HeapTrim() noexcept { malloc_trim(0); }

void FutexWait(const std::uint32_t* word, std::uint32_t expected) noexcept {
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void FutexWakeOne(const std::uint32_t* word) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

std::size_t PageSize() noexcept { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

void* MapAligned(std::size_t bytes) noexcept {
  // Twice the bytes, then the misaligned head and the tail unmapped.
  void* raw = mmap(nullptr, 2 * bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + bytes - 1) & ~(bytes - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const std::uintptr_t end = start + 2 * bytes;
  if (end > aligned + bytes) munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
  return reinterpret_cast<void*>(aligned);
}

void UnmapAligned(void* p, std::size_t bytes) noexcept { munmap(p, bytes); }

void ReleasePages(void* p, std::size_t bytes) noexcept { madvise(p, bytes, MADV_DONTNEED); }

}  // namespace concalloc::platform

// SAN-SCRUB. The System V ABI: fn in rdi, a in rsi, b in rdx; the result in
// rax. A frame of its own (rbp), so that unwinders and the tools' stacks see
// through it; the stack is 16-aligned at the call. After fn returns,
// [rsp - kScrubBytes, rsp) is fn's dead stack: zeroed with rep stosq (the
// direction flag is clear by the ABI) while the result waits in rdx.
#if defined(__x86_64__)
static_assert(concalloc::platform::kScrubBytes == 4096, "SAN-SCRUB: the constant below");
asm(R"(
  .text
  .p2align 4
  .globl concalloc_call_and_scrub
  .hidden concalloc_call_and_scrub
  .type concalloc_call_and_scrub, @function
concalloc_call_and_scrub:
  .cfi_startproc
  push %rbp
  .cfi_def_cfa_offset 16
  .cfi_offset %rbp, -16
  mov %rsp, %rbp
  .cfi_def_cfa_register %rbp
  mov %rdi, %rax
  mov %rsi, %rdi
  mov %rdx, %rsi
  call *%rax
  mov %rax, %rdx
  lea -4096(%rsp), %rdi
  mov $512, %ecx
  xor %eax, %eax
  rep stosq
  mov %rdx, %rax
  pop %rbp
  .cfi_def_cfa %rsp, 8
  ret
  .cfi_endproc
  .size concalloc_call_and_scrub, .-concalloc_call_and_scrub
)");
extern "C" std::uintptr_t concalloc_call_and_scrub(concalloc::platform::ScrubbedFn,
                                                   std::uintptr_t, std::uintptr_t) noexcept;
#endif

namespace concalloc::platform {

#if defined(__x86_64__)
std::uintptr_t CallAndScrub(ScrubbedFn fn, std::uintptr_t a, std::uintptr_t b) noexcept {
  return concalloc_call_and_scrub(fn, a, b);
}
#else
namespace {
__attribute__((noinline)) void ScrubBelow() noexcept {
  volatile unsigned char buffer[kScrubBytes];
  for (std::size_t i = 0; i < kScrubBytes; ++i) buffer[i] = 0;
}
}  // namespace
std::uintptr_t CallAndScrub(ScrubbedFn fn, std::uintptr_t a, std::uintptr_t b) noexcept {
  const std::uintptr_t r = fn(a, b);
  ScrubBelow();
  return r;
}
#endif

}  // namespace concalloc::platform
