// What the tests share: a backend over the C heap that counts blocks and can
// be told to fail (BACKEND-2; INV-CONSERVE, ALLOC-4), scopes for the depth
// and the depot budget, uninstrumented pokes at allocator memory, and busy
// threads for the fork tests.
#ifndef CONCALLOC_PROPTESTS_TEST_SUPPORT_H
#define CONCALLOC_PROPTESTS_TEST_SUPPORT_H

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include <unistd.h>

#include <valgrind/memcheck.h>

#include <concalloc/backend.h>
#include <concalloc/concalloc.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CONCALLOC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CONCALLOC_TEST_SANITIZED 1
#endif
#endif
#ifndef CONCALLOC_TEST_SANITIZED
#define CONCALLOC_TEST_SANITIZED 0
#endif
#if defined(__SANITIZE_THREAD__)
#define CONCALLOC_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CONCALLOC_TEST_TSAN 1
#endif
#endif
#ifndef CONCALLOC_TEST_TSAN
#define CONCALLOC_TEST_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CONCALLOC_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONCALLOC_TEST_ASAN 1
#endif
#endif
#ifndef CONCALLOC_TEST_ASAN
#define CONCALLOC_TEST_ASAN 0
#endif

namespace concalloc::test {

// Heavy load tests run lighter where every access is instrumented, or when
// CONCALLOC_TEST_LIGHT is set (the valgrind preset).
constexpr bool kSanitized = CONCALLOC_TEST_SANITIZED != 0;
constexpr bool kAsan = CONCALLOC_TEST_ASAN != 0;
inline bool LightLoad() { return kSanitized || std::getenv("CONCALLOC_TEST_LIGHT") != nullptr; }

// Threads that allocate until stopped, for the fork tests (LIFE-4). In
// sanitizer builds they pause around fork(): the sanitizer runtimes' own
// allocators (clang 14) are not fork-safe while another thread is inside
// them, so a child could inherit their lock held; plain builds fork while
// the threads run.
class BusyThreads {
 public:
  template <class Work>
  BusyThreads(int n, Work work) {
    for (int t = 0; t < n; ++t)
      threads_.emplace_back([this, work] {
        while (!stop_.load()) {
          if (pause_.load()) {
            paused_.fetch_add(1);
            while (pause_.load() && !stop_.load()) {
            }
            paused_.fetch_sub(1);
            continue;
          }
          work();
        }
      });
  }
  ~BusyThreads() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
  }
  // Calls fork() with the threads running (plain builds) or paused.
  pid_t Fork() {
    if (!kSanitized) return fork();
    pause_ = true;
    while (paused_.load() != static_cast<int>(threads_.size())) {
    }
    const pid_t pid = fork();
    if (pid != 0) pause_ = false;
    return pid;
  }

 private:
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false}, pause_{false};
  std::atomic<int> paused_{0};
};

// Deliberate reads and writes of allocator-owned memory (cached blocks,
// headers) by tests of checked mode and Validate. Not instrumented by ASan,
// and made accessible to memcheck for the access only (headers are always
// inaccessible in memcheck builds), as the tools would (rightly) report them
// first; the sanitizers/ programs test what the tools themselves report.
__attribute__((no_sanitize_address, noinline)) inline std::uint64_t PeekWord(
    const std::uint64_t* p) {
  VALGRIND_MAKE_MEM_DEFINED(p, sizeof *p);
  const std::uint64_t v = *p;
  if (GetBuildInfo().exact_usable_size) VALGRIND_MAKE_MEM_NOACCESS(p, sizeof *p);
  return v;
}
__attribute__((no_sanitize_address, noinline)) inline void PokeWord(std::uint64_t* p,
                                                                    std::uint64_t v) {
  VALGRIND_MAKE_MEM_UNDEFINED(p, sizeof *p);
  *p = v;
  if (GetBuildInfo().exact_usable_size) VALGRIND_MAKE_MEM_NOACCESS(p, sizeof *p);
}
__attribute__((no_sanitize_address, noinline)) inline unsigned char PeekByte(
    const unsigned char* p) {
  return *p;
}
__attribute__((no_sanitize_address, noinline)) inline void PokeByte(unsigned char* p,
                                                                    unsigned char v) {
  *p = v;
}

struct CountingBackend {
  static inline std::atomic<long> allocs{0};
  static inline std::atomic<long> frees{0};
  static inline std::atomic<bool> fail{false};
  // >= 0: how many more allocations succeed before every one fails.
  static inline std::atomic<long> succeed{-1};

  static bool Refuses() {
    if (fail.load()) return true;
    const long left = succeed.load();
    if (left == 0) return true;
    if (left > 0) succeed.store(left - 1);
    return false;
  }
  static void* Alloc(std::size_t n) noexcept {
    if (Refuses()) return nullptr;
    void* p = std::malloc(n);
    if (p != nullptr) allocs.fetch_add(1);
    return p;
  }
  static void* AllocAligned(std::size_t a, std::size_t n) noexcept {
    if (Refuses()) return nullptr;
    void* p = std::aligned_alloc(a, n);
    if (p != nullptr) allocs.fetch_add(1);
    return p;
  }
  static void Free(void* p) noexcept {
    frees.fetch_add(1);
    std::free(p);
  }
  // Blocks the library took from the backend and gave back, counted as
  // blocks: with spans (HEAP-SPAN) a span's allocation is not a block, and
  // each block carved from a span, or given back to one, counts once. `base`
  // is the heap's counts when the scope began.
  static inline GlobalStats base{};
  static long Taken() {
    const GlobalStats g = GetGlobalStats();
    return allocs.load() - static_cast<long>(g.heap_spans_made - base.heap_spans_made) +
           static_cast<long>(g.heap_blocks_taken - base.heap_blocks_taken);
  }
  static long Returned() {
    const GlobalStats g = GetGlobalStats();
    return frees.load() - static_cast<long>(g.heap_spans_returned - base.heap_spans_returned) +
           static_cast<long>(g.heap_blocks_given - base.heap_blocks_given);
  }
  static long Outstanding() { return Taken() - Returned(); }
  // Blocks out of the backend that are not in the depot: live or in a cache.
  static long OutsideDepot() {
    return Outstanding() - static_cast<long>(GetGlobalStats().depot_blocks);
  }

  static inline const Backend kBackend{&Alloc, &AllocAligned, &Free};
};

// Installs the counting backend for a scope, starting from an empty cache on
// the calling thread and an empty depot, so that every block counted came
// from it.
class ScopedCountingBackend {
 public:
  ScopedCountingBackend() {
    Trim();
    CountingBackend::allocs = 0;
    CountingBackend::frees = 0;
    CountingBackend::fail = false;
    CountingBackend::succeed = -1;
    CountingBackend::base = GetGlobalStats();
    previous_ = SetBackend(&CountingBackend::kBackend);
  }
  ~ScopedCountingBackend() {
    Trim();
    CountingBackend::fail = false;
    CountingBackend::succeed = -1;
    SetBackend(previous_);
  }
  ScopedCountingBackend(const ScopedCountingBackend&) = delete;
  ScopedCountingBackend& operator=(const ScopedCountingBackend&) = delete;

 private:
  const Backend* previous_;
};

// Sets the cache depth for a scope; the calling thread's cache takes it at
// once (CONF-DEPTH: a flushed cache takes the configured depth).
class ScopedDepth {
 public:
  explicit ScopedDepth(std::size_t depth) : previous_(CacheDepth()) {
    SetCacheDepth(depth);
    FlushThreadCache();
  }
  ~ScopedDepth() {
    SetCacheDepth(previous_);
    FlushThreadCache();
  }

 private:
  std::size_t previous_;
};

// Sets the depot budget for a scope (DEPOT-BUDGET; 0: no depot), starting
// and ending with an empty depot.
class ScopedDepotBudget {
 public:
  explicit ScopedDepotBudget(std::size_t bytes) : previous_(DepotBudget()) {
    Trim();
    SetDepotBudget(bytes);
  }
  ~ScopedDepotBudget() {
    Trim();
    SetDepotBudget(previous_);
  }
  ScopedDepotBudget(const ScopedDepotBudget&) = delete;
  ScopedDepotBudget& operator=(const ScopedDepotBudget&) = delete;

 private:
  std::size_t previous_;
};

// While it lives, another thread has a live cache: so a worker's exit leaves
// its lists in the depot (DEPOT-EXIT) instead of finding the process down to
// one thread, which empties the depot (DEPOT-QUIET).
class AnotherLiveCache {
 public:
  AnotherLiveCache() : thread_([this] {
    concalloc::Free(concalloc::Alloc(1));
    concalloc::FlushThreadCache();  // a live cache that holds nothing
    live_ = true;
    while (!stop_.load()) std::this_thread::yield();
  }) {
    while (!live_.load()) std::this_thread::yield();
  }
  ~AnotherLiveCache() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> live_{false}, stop_{false};
  std::thread thread_;
};

}  // namespace concalloc::test

#endif
