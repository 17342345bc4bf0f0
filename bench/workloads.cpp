// The benchmark workloads (issue: benchmarks against the real peers),
// compiled once per allocator: BENCH_PEER selects the API, so each peer runs
// in its own process (jemalloc and tcmalloc replace malloc when linked).
// Results are time per operation; bench/run turns them into ratios to glibc.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "peer.h"

namespace {

std::uint64_t Rng(std::uint64_t& s) {  // xorshift64
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

void ReportPeakRss(benchmark::State& state) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["peak_rss_mib"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// (1) The seed's demo: parallel reverse; every swap allocates its temporary
// through the element's class-level operator new, on all hardware threads.
struct Element {
  static void* operator new(std::size_t n) {
    if (void* p = PeerAlloc(n)) return p;
    throw std::bad_alloc();
  }
  static void operator delete(void* p) noexcept { PeerFree(p); }
  int data;
};

// Reverses an array of 2^20 T per iteration on every hardware thread, each
// thread a contiguous share of the first half; swap(a, i, j) does one swap.
template <class T, class SwapFn>
void ReverseInParallel(benchmark::State& state, SwapFn swap) {
  const std::size_t n = 1 << 20;
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<T> a(n);
  // Each thread works on a copy of the array's address (not a reference to
  // `a`), so that the Escape barrier in a swap does not reload it.
  T* const data = a.data();
  for (auto _ : state) {
    std::vector<std::thread> pool;
    const std::size_t half = n / 2, chunk = (half + threads - 1) / threads;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([=] {
        const std::size_t end = std::min(half, (t + 1) * chunk);
        for (std::size_t i = t * chunk; i < end; ++i) swap(data, i, n - 1 - i);
      });
    for (std::thread& th : pool) th.join();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n / 2));
  ReportPeakRss(state);
}

void BM_SeedDemo(benchmark::State& state) {
  ReverseInParallel<Element>(state, [](Element* a, std::size_t i, std::size_t j) {
    Element* tmp = new Element;
    Escape(tmp);
    *tmp = a[i];
    a[i] = a[j];
    a[j] = *tmp;
    delete tmp;
  });
}
BENCHMARK(BM_SeedDemo)->Unit(benchmark::kMillisecond)->UseRealTime();

// (2) Alloc+Free pairs on one thread, per size.
void BM_Pair(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = PeerAlloc(size);
    Escape(p);
    PeerFree(p);
  }
  state.SetItemsProcessed(state.iterations());
  ReportPeakRss(state);
}
BENCHMARK(BM_Pair)->Arg(16)->Arg(32)->Arg(64)->Arg(128)->Arg(256)->Arg(512)->Arg(1024)
    ->Arg(4096)->Arg(8192);

// (3) Bursts: allocate K blocks, then free them in the same or shuffled order.
void BM_Burst(benchmark::State& state) {
  const auto k = static_cast<std::size_t>(state.range(0));
  const bool shuffled = state.range(1) != 0;
  std::vector<void*> blocks(k);
  std::vector<std::size_t> order(k);
  for (std::size_t i = 0; i < k; ++i) order[i] = i;
  std::uint64_t seed = 88172645463325252ull;
  if (shuffled)
    for (std::size_t i = k; i > 1; --i) std::swap(order[i - 1], order[Rng(seed) % i]);
  for (auto _ : state) {
    for (std::size_t i = 0; i < k; ++i) blocks[i] = PeerAlloc(64);
    Escape(blocks.data());
    for (std::size_t i = 0; i < k; ++i) PeerFree(blocks[order[i]]);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(2 * k));
  ReportPeakRss(state);
}
BENCHMARK(BM_Burst)->ArgsProduct({{100, 1000, 10000}, {0, 1}});

// (4) A random working set: each thread keeps 2000 live blocks of 8 to 1024
// bytes and replaces one at random per step.
void BM_WorkingSet(benchmark::State& state) {
  constexpr std::size_t kLive = 2000;
  std::uint64_t seed = 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(state.thread_index());
  std::vector<void*> live(kLive);
  for (void*& p : live) p = PeerAlloc(8 + Rng(seed) % 1017);
  for (auto _ : state) {
    const std::size_t i = Rng(seed) % kLive;
    PeerFree(live[i]);
    live[i] = PeerAlloc(8 + Rng(seed) % 1017);
    Escape(live[i]);
  }
  for (void* p : live) PeerFree(p);
  state.SetItemsProcessed(state.iterations());
  ReportPeakRss(state);
}
BENCHMARK(BM_WorkingSet)->Threads(1)->Threads(2)->UseRealTime();

// (5) Producer/consumer: one thread allocates 64-byte blocks, another frees
// them, through a single-producer single-consumer ring. The waits yield, so
// that two spinning threads on two cores measure the allocator, not the
// scheduler.
void BM_ProducerConsumer(benchmark::State& state) {
  constexpr std::size_t kRing = 1024, kBlocks = 100000;
  std::vector<std::atomic<void*>> ring(kRing);
  for (auto _ : state) {
    for (auto& slot : ring) slot.store(nullptr, std::memory_order_relaxed);
    std::thread consumer([&] {
      for (std::size_t i = 0; i < kBlocks; ++i) {
        std::atomic<void*>& slot = ring[i % kRing];
        void* p;
        while ((p = slot.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
        slot.store(nullptr, std::memory_order_release);
        PeerFree(p);
      }
    });
    for (std::size_t i = 0; i < kBlocks; ++i) {
      void* p = PeerAlloc(64);
      std::atomic<void*>& slot = ring[i % kRing];
      while (slot.load(std::memory_order_acquire) != nullptr) std::this_thread::yield();
      slot.store(p, std::memory_order_release);
    }
    consumer.join();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBlocks));
  ReportPeakRss(state);
}
BENCHMARK(BM_ProducerConsumer)->Unit(benchmark::kMillisecond)->UseRealTime();

// (6) Thread churn: short-lived threads that each allocate and free a few
// hundred blocks.
void BM_ThreadChurn(benchmark::State& state) {
  constexpr int kThreads = 8, kBlocks = 300;
  for (auto _ : state) {
    for (int wave = 0; wave < kThreads / 2; ++wave) {
      std::thread a([] {
        void* b[kBlocks];
        for (int i = 0; i < kBlocks; ++i) b[i] = PeerAlloc(16 + 8 * (i % 64));
        for (void* p : b) PeerFree(p);
      });
      std::thread c([] {
        void* b[kBlocks];
        for (int i = 0; i < kBlocks; ++i) b[i] = PeerAlloc(16 + 8 * (i % 64));
        for (void* p : b) PeerFree(p);
      });
      a.join();
      c.join();
    }
  }
  state.SetItemsProcessed(state.iterations() * kThreads * kBlocks * 2);
  ReportPeakRss(state);
}
BENCHMARK(BM_ThreadChurn)->Unit(benchmark::kMillisecond)->UseRealTime();

// Floors: the same loops with no allocator at all, to show how much of each
// workload an allocator can still win. Not per peer (bench/run runs them once).
// FloorPair: a bare LIFO list of one block behind two non-inlined calls, the
// least an Alloc+Free pair through a call each can cost: the pop waits for
// the push's stores (the head, then the link) through store-to-load
// forwarding, whatever the allocator.
struct FloorNode {
  FloorNode* next;
};
FloorNode* g_floor_head = nullptr;
__attribute__((noinline)) void* FloorPop() {
  FloorNode* n = g_floor_head;
  g_floor_head = n->next;
  return n;
}
__attribute__((noinline)) void FloorPush(void* p) {
  auto* n = static_cast<FloorNode*>(p);
  n->next = g_floor_head;
  g_floor_head = n;
}
void BM_FloorPair(benchmark::State& state) {
  alignas(64) static FloorNode nodes[4];
  for (FloorNode& n : nodes) FloorPush(&n);
  for (auto _ : state) {
    void* p = FloorPop();
    Escape(p);
    FloorPush(p);
  }
  for (int i = 0; i < 4; ++i) FloorPop();
  state.SetItemsProcessed(state.iterations());
  ReportPeakRss(state);
}
BENCHMARK(BM_FloorPair);

// FloorSeedDemo: the seed's demo with the temporary on the stack.
void BM_FloorSeedDemo(benchmark::State& state) {
  ReverseInParallel<int>(state, [](int* a, std::size_t i, std::size_t j) {
    int tmp;
    Escape(&tmp);
    tmp = a[i];
    a[i] = a[j];
    a[j] = tmp;
  });
}
BENCHMARK(BM_FloorSeedDemo)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
