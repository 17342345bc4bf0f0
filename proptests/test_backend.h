// A backend over the C heap that counts blocks and can be told to fail
// (BACKEND-2), for the conservation checks (INV-CONSERVE) and the failure
// injection tests (ALLOC-4).
#ifndef CONCALLOC_PROPTESTS_TEST_BACKEND_H
#define CONCALLOC_PROPTESTS_TEST_BACKEND_H

#include <atomic>
#include <cstdlib>

#include <concalloc/backend.h>
#include <concalloc/concalloc.h>

namespace concalloc::test {

struct CountingBackend {
  static inline std::atomic<long> allocs{0};
  static inline std::atomic<long> frees{0};
  static inline std::atomic<bool> fail{false};

  static void* Alloc(std::size_t n) noexcept {
    if (fail.load()) return nullptr;
    void* p = std::malloc(n);
    if (p != nullptr) allocs.fetch_add(1);
    return p;
  }
  static void* AllocAligned(std::size_t a, std::size_t n) noexcept {
    if (fail.load()) return nullptr;
    void* p = std::aligned_alloc(a, n);
    if (p != nullptr) allocs.fetch_add(1);
    return p;
  }
  static void Free(void* p) noexcept {
    frees.fetch_add(1);
    std::free(p);
  }
  static long Outstanding() { return allocs.load() - frees.load(); }
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
    previous_ = SetBackend(&CountingBackend::kBackend);
  }
  ~ScopedCountingBackend() {
    Trim();
    CountingBackend::fail = false;
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

}  // namespace concalloc::test

#endif
