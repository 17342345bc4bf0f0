// Producer/consumer stress (DEPOT-*, INV-DEPOT-BOUND, INV-CONSERVE): one
// thread allocates 64-byte blocks and writes them, another verifies and
// frees them, through a bounded queue, for a number of seconds; first with
// the depot, then without it. Built plain (throughput) and with
// ThreadSanitizer (no race may be reported). Exits non-zero when a block's
// contents change in transit or the blocks held exceed the spec's bound.
//   pc_stress [seconds per mode, default 2]
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <concalloc/backend.h>
#include <concalloc/concalloc.h>

namespace {

std::atomic<long> g_taken{0}, g_returned{0};
void* CountAlloc(std::size_t n) noexcept {
  g_taken.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n);
}
void* CountAllocAligned(std::size_t a, std::size_t n) noexcept {
  g_taken.fetch_add(1, std::memory_order_relaxed);
  return std::aligned_alloc(a, n);
}
void CountFree(void* p) noexcept {
  g_returned.fetch_add(1, std::memory_order_relaxed);
  std::free(p);
}
const concalloc::Backend kCounting{&CountAlloc, &CountAllocAligned, &CountFree};

constexpr std::size_t kQueueMax = 256;
constexpr std::size_t kBlockBytes = 64 + 16;  // the class of a 64-byte request

struct Result {
  double ops_per_second;
  long peak_held;
  long bound;
  bool contents_ok;
};

Result Run(double seconds, std::size_t depot_budget) {
  concalloc::Trim();
  concalloc::SetDepotBudget(depot_budget);
  g_taken = 0;
  g_returned = 0;
  // The spec's bound on blocks out of the backend: the ones in flight, two
  // thread caches (INV-CACHE-BOUND) and the depot (INV-DEPOT-BOUND, with the
  // budget in force: up to 8 times the one set, DEPOT-GROW).
  const long bound = static_cast<long>(kQueueMax + 2 + 2 * concalloc::CacheDepth() +
                                       8 * depot_budget / kBlockBytes);
  std::mutex mu;
  std::condition_variable cv;
  std::deque<unsigned char*> queue;
  bool done = false;
  std::atomic<long> moved{0}, peak{0};
  std::atomic<bool> ok{true};
  const auto stop_at = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::thread producer([&] {
    std::uint32_t seq = 0;
    while (std::chrono::steady_clock::now() < stop_at) {
      for (int burst = 0; burst < 64; ++burst, ++seq) {
        auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
        std::memset(p, static_cast<int>(seq & 0xFF), 64);
        std::memcpy(p, &seq, sizeof seq);
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return queue.size() < kQueueMax; });
        queue.push_back(p);
        cv.notify_all();
      }
      const long held = g_taken.load() - g_returned.load();
      if (held > peak.load()) peak = held;
    }
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  });
  std::thread consumer([&] {
    std::uint32_t expect = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !queue.empty() || done; });
      if (queue.empty()) break;
      unsigned char* p = queue.front();
      queue.pop_front();
      cv.notify_all();
      lock.unlock();
      std::uint32_t seq;
      std::memcpy(&seq, p, sizeof seq);
      if (seq != expect++) ok = false;
      for (int k = sizeof seq; k < 64; ++k)
        if (p[k] != static_cast<unsigned char>(seq & 0xFF)) ok = false;
      concalloc::Free(p);
      moved.fetch_add(1, std::memory_order_relaxed);
    }
  });
  const auto start = std::chrono::steady_clock::now();
  producer.join();
  consumer.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  concalloc::Trim();
  const bool conserved = g_taken.load() - g_returned.load() == 0;  // INV-CONSERVE
  return {static_cast<double>(moved.load()) / elapsed, peak.load(), bound,
          ok.load() && conserved};
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  concalloc::SetBackend(&kCounting);
  const std::size_t budget = concalloc::DepotBudget();
  const Result with = Run(seconds, budget > 0 ? budget : std::size_t{8} << 20);
  const Result without = Run(seconds, 0);
  concalloc::SetBackend(nullptr);
  std::printf("producer/consumer, 64-byte blocks, %.1f s per mode\n", seconds);
  std::printf("  with the depot:    %10.0f blocks/s, peak %ld blocks held (bound %ld)\n",
              with.ops_per_second, with.peak_held, with.bound);
  std::printf("  without the depot: %10.0f blocks/s, peak %ld blocks held (bound %ld)\n",
              without.ops_per_second, without.peak_held, without.bound);
  int status = 0;
  for (const Result& r : {with, without}) {
    if (!r.contents_ok) {
      std::printf("FAIL: contents changed in transit, or blocks not conserved (INV-CONSERVE)\n");
      status = 1;
    }
    if (r.peak_held > r.bound) {
      std::printf("FAIL: %ld blocks held above the bound %ld (INV-DEPOT-BOUND)\n", r.peak_held,
                  r.bound);
      status = 1;
    }
  }
  return status;
}
