// SAN-SCRUB, SAN-LEAK: a user's function drops the only pointer to a block,
// the program overwrites 4 KiB of its stack and returns from main; the leak
// checker at exit must report the block from that function every time,
// whatever the stack layout:
//   leak_depths main K     the drop on the main thread, K * 16 bytes deeper
//                          than main's frame (K = 0..63 moves it across the
//                          stack slots of the library's own frames)
//   leak_depths thread K   the same on a second thread
//   ... K warm             another function used and freed blocks of the
//                          class first (else the user's function is the
//                          class's first user)
//   leak_depths listed     SAN-LEAK: a worker drops a block of a batch that
//                          another thread put in the depot with its list of
//                          addresses (DEPOT-LISTED) and the worker took (the
//                          caches' path: CONCALLOC_TOOL_CACHES=1), then
//                          parks while the main thread runs a recoverable
//                          check; prints "took a listed batch" (or exits
//                          3), and the check must report one leak
// Exits 0; LeakSanitizer (or memcheck) must report the leak from
// UserDropsTheOnlyPointer (the depth modes).
#include <alloca.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <sanitizer/lsan_interface.h>

#include <concalloc/concalloc.h>

namespace {

__attribute__((noinline)) void WarmTheClass() {
  void* blocks[8];
  for (void*& b : blocks) b = concalloc::Alloc(100);
  for (void* b : blocks) concalloc::Free(b);
}

__attribute__((noinline)) void UserDropsTheOnlyPointer() {
  void* p = concalloc::Alloc(100);
  std::memset(p, 1, 100);
}

// What a careful user does to clear stale copies of its own pointers.
__attribute__((noinline)) void OverwriteStack() {
  volatile char buffer[4096];
  for (char& c : const_cast<char(&)[4096]>(buffer)) c = 0;
}

__attribute__((noinline)) void DropAtDepth(int k, bool warm) {
  if (warm) WarmTheClass();
  volatile char* pad = static_cast<volatile char*>(alloca(static_cast<std::size_t>(k) * 16 + 1));
  pad[0] = 0;
  UserDropsTheOnlyPointer();
  OverwriteStack();
}

// SAN-LEAK: the dropped block comes from a listed batch. A producer frees
// 4,000 blocks of the class with no taker (its transfers grow, its hot
// batches are listed) and exits; a worker thread takes 300 blocks (kept
// reachable), drops the next and parks, while the main thread runs the
// leak check (recoverable: the worker's cache is still live, as a
// program's threads are; its parked stack is scanned from where it
// waits, above the dead frames of its calls); then the process ends
// without the exit-time check, which would find the block once the
// worker's cache is gone.
std::vector<void*>* g_kept = new std::vector<void*>;  // reachable: no leak
int DropFromAListedBatch() {
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
    std::fprintf(stderr, "leak_depths listed: no listed batch was taken\n");
    std::_Exit(3);
  }
  std::fprintf(stderr, "leak_depths listed: took a listed batch\n");
  const int leaks = __lsan_do_recoverable_leak_check();
  std::fprintf(stderr, "leak_depths listed: leak check %s\n", leaks != 0 ? "found leaks" : "clean");
  std::_Exit(0);  // the worker still parked: no exit-time check
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "listed") == 0) return DropFromAListedBatch();
  const bool on_thread = argc > 1 && std::strcmp(argv[1], "thread") == 0;
  const int k = argc > 2 ? std::atoi(argv[2]) : 0;
  const bool warm = argc > 3 && std::strcmp(argv[3], "warm") == 0;
  if (on_thread)
    std::thread(DropAtDepth, k, warm).join();
  else
    DropAtDepth(k, warm);
  OverwriteStack();
  return 0;
}
