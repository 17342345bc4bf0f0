// SAN-LEAK: a worker thread drops a block of a batch that another thread
// put in the depot with its list of addresses (DEPOT-LISTED) and the worker
// took (the caches' path: CONCALLOC_TOOL_CACHES=1), then parks while the
// main thread runs a recoverable leak check, which must report one leak.
// Prints "took a listed batch" (or exits 3: no listed batch was taken) and
// the check's result. A program of its own, so that the layout of
// leak_depths, whose checks depend on where stale copies land, stays as it
// was.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <sanitizer/lsan_interface.h>

#include <concalloc/concalloc.h>

namespace {

__attribute__((noinline)) void UserDropsTheOnlyPointer() {
  void* p = concalloc::Alloc(100);
  std::memset(p, 1, 100);
}

// A producer frees 4,000 blocks of the class with no taker (its transfers
// grow until its spares are listed) and exits; a worker thread takes 300
// blocks (kept reachable), drops the next and parks, while the main thread
// runs the leak check (recoverable: the worker's cache is still live, as a
// program's threads are; its parked stack is scanned from where it
// waits, above the dead frames of its calls); then the process ends
// without the exit-time check, which would find the block once the
// worker's cache is gone.
int DropFromAListedBatch() {
  static std::vector<void*>* g_kept = new std::vector<void*>;  // reachable: no leak
  concalloc::Free(concalloc::Alloc(16));  // this thread's cache
  std::atomic<int> step{0};
  std::atomic<bool> listed{false};
  std::thread worker([&] {
    concalloc::Free(concalloc::Alloc(16));  // its cache: the depot is kept
    step = 1;
    while (step != 2) std::this_thread::yield();
    for (int i = 0; i < 300; ++i) g_kept->push_back(concalloc::Alloc(100));
    UserDropsTheOnlyPointer();
    listed = concalloc::GetGlobalStats().blocks_prefetched != 0;
    step = 3;
    while (step != 4) std::this_thread::yield();
  });
  while (step != 1) std::this_thread::yield();
  std::thread([] {
    std::vector<void*> blocks;
    for (int i = 0; i < 4000; ++i) blocks.push_back(concalloc::Alloc(100));
    for (void* p : blocks) concalloc::Free(p);
  }).join();
  step = 2;
  while (step != 3) std::this_thread::yield();
  if (!listed) {
    std::fprintf(stderr, "leak_listed: no listed batch was taken\n");
    std::_Exit(3);
  }
  std::fprintf(stderr, "leak_listed: took a listed batch\n");
  const int leaks = __lsan_do_recoverable_leak_check();
  std::fprintf(stderr, "leak_listed: leak check %s\n", leaks != 0 ? "found leaks" : "clean");
  std::_Exit(0);  // the worker still parked: no exit-time check
}

}  // namespace

int main() { return DropFromAListedBatch(); }
