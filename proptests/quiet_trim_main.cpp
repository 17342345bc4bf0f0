// DEPOT-QUIET: the C heap is asked to return its free pages (malloc_trim)
// only where the memory given back went to the C heap. Threads that each
// free 2 MiB of 64-byte blocks exit one after another, leaving the process
// with one thread each time; malloc_trim is counted (this program's
// definition interposes glibc's and forwards to it). With mapped spans
// (GetBuildInfo().mapped_spans: the release build) the blocks go back to
// spans that the heap unmaps itself and the C heap gained nothing: no call.
// With spans from the C heap (checked builds, sanitizers, Valgrind) the
// trim is what gives them back: at least one call.
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

namespace {
std::atomic<int> g_trims{0};
}

extern "C" int malloc_trim(std::size_t pad) {
  g_trims.fetch_add(1);
  using Fn = int (*)(std::size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "malloc_trim"));
  return real != nullptr ? real(pad) : 0;
}

int main() {
  constexpr int kThreads = 10;
  for (int t = 0; t < kThreads; ++t) {
    std::thread([] {
      std::vector<void*> blocks(32768);
      for (void*& p : blocks) p = concalloc::Alloc(64);
      for (void* p : blocks) concalloc::Free(p);
    }).join();
  }
  const bool mapped = concalloc::GetBuildInfo().mapped_spans;
  const int trims = g_trims.load();
  std::printf("DEPOT-QUIET: %d thread exits, %d malloc_trim calls, spans %s\n", kThreads, trims,
              mapped ? "mapped" : "from the C heap");
  if (mapped && trims != 0) {
    std::printf("DEPOT-QUIET: malloc_trim was called though the blocks given back never went "
                "through the C heap (mapped spans)\n");
    return 1;
  }
  if (!mapped && trims == 0) {
    std::printf("DEPOT-QUIET: the spans went back to the C heap and it was never trimmed\n");
    return 1;
  }
  return 0;
}
