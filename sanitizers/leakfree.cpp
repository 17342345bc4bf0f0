// SAN-LEAK: a program that frees every block it allocates, so a leak checker
// at exit must report nothing: linked to the shared or the static library,
// in tool mode or with the caches on (CONCALLOC_TOOL_CACHES=1), with threads
// that exited before main returns (their lists went to the depot) and a
// thread still running at exit (its cache still holds blocks).
//   leakfree     exits 0; LeakSanitizer (or memcheck) must stay silent
#include <atomic>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

namespace {

void AllocAndFree(std::size_t count, std::size_t size) {
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < count; ++i) blocks.push_back(concalloc::Alloc(size + i % 7 * 16));
  for (void* p : blocks) concalloc::Free(p);
}

std::atomic<bool> g_parked{false};

}  // namespace

int main() {
  AllocAndFree(100, 64);  // main's cache, full at exit
  for (int t = 0; t < 4; ++t) std::thread([] { AllocAndFree(300, 100); }).join();
  // A thread that keeps its cache (and its blocks) until after main returns.
  std::thread([] {
    AllocAndFree(200, 48);
    g_parked = true;
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }).detach();
  while (!g_parked.load()) {
  }
  return 0;
}
