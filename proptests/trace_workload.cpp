// TRACE-RECORD: the workload that spec/trace-record runs in the trace build
// (SPEC.md section 12): worker threads allocate blocks of three classes,
// free their own and other threads' blocks (through a shared mailbox),
// flush their caches, trim, and exit, replaced by new threads (so caches
// drain to the depot and the depot gives back the oldest batches), after a
// phase on the main thread that touches every size class, one whose batches
// the depot refuses, one where it evicts the oldest of several, and a thread
// whose transfers grow (DEPOT-XFER). Small lists and a small depot budget
// make every step of the protocol frequent.
//   trace_workload [threads, default 4] [operations per thread, default 25000]
// Environment: CONCALLOC_TRACE_FILE (where the trace goes), TRACE_DEPTH
// (default 8), TRACE_DEPOT_BYTES (default 6144).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

namespace {

std::mutex g_mailbox_mu;
std::vector<void*> g_mailbox;  // blocks allocated by one thread, freed by another

constexpr std::size_t kSizes[] = {24, 100, 400};

std::size_t EnvOr(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

void Worker(unsigned seed, long ops) {
  std::mt19937 rng(seed);
  std::vector<void*> mine;
  for (long i = 0; i < ops; ++i) {
    const unsigned r = rng() % 100;
    if (r < 45 || mine.empty()) {
      void* p = concalloc::Alloc(kSizes[rng() % 3]);
      std::memset(p, 0x5a, 16);
      mine.push_back(p);
    } else if (r < 80) {
      const std::size_t k = rng() % mine.size();
      concalloc::Free(mine[k]);
      mine[k] = mine.back();
      mine.pop_back();
    } else if (r < 90) {  // hand one over
      std::lock_guard<std::mutex> lock(g_mailbox_mu);
      g_mailbox.push_back(mine.back());
      mine.pop_back();
    } else if (r < 99) {  // free one that another thread allocated
      void* p = nullptr;
      {
        std::lock_guard<std::mutex> lock(g_mailbox_mu);
        if (!g_mailbox.empty()) {
          p = g_mailbox.back();
          g_mailbox.pop_back();
        }
      }
      concalloc::Free(p);
    } else if (rng() % 8 == 0) {
      concalloc::Trim();
    } else {
      concalloc::FlushThreadCache();
    }
    if (mine.size() > 48) {  // a bounded working set
      concalloc::Free(mine.front());
      mine.erase(mine.begin());
    }
  }
  for (void* p : mine) concalloc::Free(p);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 4;
  const long ops = argc > 2 ? std::atol(argv[2]) : 25000;
  if (threads < 1 || ops < 1) {
    std::fprintf(stderr, "usage: trace_workload [threads] [operations per thread]\n");
    return 2;
  }
  concalloc::SetCacheDepth(EnvOr("TRACE_DEPTH", 8));
  // Every size class at least once, so that the checker's arrays, sized by
  // the classes a trace names, take all 96 (a real program's trace names
  // most of them).
  {
    std::vector<void*> blocks;
    for (std::size_t size : concalloc::abi_v4::kClassSize)
      blocks.push_back(concalloc::Alloc(size - concalloc::GetBuildInfo().header_bytes));
    for (void* p : blocks) concalloc::Free(p);
  }
  // DEPOT-BUDGET's refusals, for certain (they are rare in the threads'
  // phase): batches of 400-byte blocks against a budget of 512 bytes.
  concalloc::SetDepotBudget(512);
  {
    std::vector<void*> blocks;
    for (int i = 0; i < 32; ++i) blocks.push_back(concalloc::Alloc(400));
    for (void* p : blocks) concalloc::Free(p);
    concalloc::FlushThreadCache();
  }
  // DEPOT-EVICT, for certain: room for three batches of four 48-byte
  // blocks (224 bytes each); every later spill evicts the oldest of three.
  concalloc::SetDepotBudget(700);
  {
    std::vector<void*> blocks;
    for (int i = 0; i < 40; ++i) blocks.push_back(concalloc::Alloc(24));
    for (void* p : blocks) concalloc::Free(p);
    concalloc::FlushThreadCache();
    concalloc::Trim();
  }
  concalloc::SetDepotBudget(EnvOr("TRACE_DEPOT_BYTES", 6144));
  // DEPOT-XFER, for certain: a thread that only frees 64 blocks of 24 bytes
  // (made here), with no taker: its batches are one spill (4 blocks) until
  // its shard holds two, then its transfers grow to 8 blocks (an eighth of
  // the budget caps them there), and it exits with one spill in its spare,
  // which its exit must drain.
  {
    std::vector<void*> blocks;
    for (int i = 0; i < 64; ++i) blocks.push_back(concalloc::Alloc(24));
    std::thread([&blocks] {
      for (void* p : blocks) concalloc::Free(p);
    }).join();
    concalloc::Trim();
  }
  // Two generations of threads: the second starts as the first exits.
  const long half = ops / 2;
  std::vector<std::thread> first, second;
  for (int t = 0; t < threads; ++t) first.emplace_back(Worker, 1000u + t, half);
  for (int t = 0; t < threads; ++t) {
    first[t].join();
    second.emplace_back(Worker, 2000u + t, ops - half);
  }
  for (auto& th : second) th.join();
  for (void* p : g_mailbox) concalloc::Free(p);
  g_mailbox.clear();
  concalloc::Trim();
  const concalloc::ValidationResult v = concalloc::Validate();
  if (!v) {
    std::fprintf(stderr, "trace_workload: %s at %p: %s\n", v.clause, v.address, v.reason);
    return 1;
  }
  std::printf("trace_workload: %d threads x %ld operations done\n", threads, ops);
  return 0;
}
