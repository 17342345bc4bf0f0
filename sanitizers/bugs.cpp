// SAN-*: small programs, each with one deliberate user bug, that the tools
// must report as they would with plain malloc, naming the user's function:
//   bugs <bug>
// Each bug lives in its own non-inlined function whose name the expected
// report must contain. "none" runs every correct use and must stay silent.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <thread>

#include <concalloc/concalloc.h>

#define USER_FN __attribute__((noinline))

namespace {

volatile unsigned char g_sink;

// Blocks of 64 and 100 bytes made and freed here first, so that with the
// caches on, the user's functions below reuse blocks this one made.
USER_FN void WarmUpSomewhereElse() {
  void* blocks[64];
  for (std::size_t n : {64, 100}) {
    for (void*& p : blocks) p = concalloc::Alloc(n);
    for (void* p : blocks) concalloc::Free(p);
  }
}

// Use after Free of a block that is now in the thread cache (with the
// caches on; in tool mode, of a block the tool holds freed).
USER_FN void UserUseAfterFree() {
  WarmUpSomewhereElse();
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
  concalloc::Free(p);
  g_sink = p[10];
}

// A write one byte past the requested size (inside the class's slack).
USER_FN void UserOverflowByOne() {
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(21));
  p[21] = 1;
  concalloc::Free(p);
}

// A write into the 16-byte header in front of a live block.
USER_FN void UserWriteIntoHeader() {
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
  p[-8] = 1;
  concalloc::Free(p);
}

USER_FN void UserDoubleFree() {
  void* p = concalloc::Alloc(64);
  concalloc::Free(p);
  concalloc::Free(p);
}

// Free of a pointer that Alloc never returned.
USER_FN void UserFreeForeign() {
  alignas(16) static unsigned char buffer[64];
  concalloc::Free(buffer + 32);
}

// Free of a block that malloc made, not Alloc (CHK-FOREIGN; in tool mode
// the tool's allocator must not be handed a guess of its block).
USER_FN void UserFreesAMallocBlock() {
  void* p = std::malloc(64);
  std::memset(p, 0, 64);
  concalloc::Free(p);
}

// UsableSize of a block after its Free (SAN-DIRECT: reported by the tool,
// as malloc_usable_size of a freed block is).
USER_FN void UserAsksTheSizeOfAFreedBlock() {
  void* p = concalloc::Alloc(64);
  concalloc::Free(p);
  g_sink = static_cast<unsigned char>(concalloc::UsableSize(p));
}

// A read of memory that Alloc returned and nobody wrote since (memcheck).
// The block is a reused cached one whose bytes were written before it was
// freed: only the allocator's client request makes them undefined again.
USER_FN void UserReadUninitialised() {
  auto* old = static_cast<unsigned char*>(concalloc::Alloc(64));
  std::memset(old, 7, 64);
  concalloc::Free(old);
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));  // the same block
  if (p[3] == 7) std::puts("seven");
  concalloc::Free(p);
}

// A block allocated and never freed. On a thread of its own, so that no
// stale copy of the pointer stays on a live stack.
USER_FN void UserLeak() {
  void* p = concalloc::Alloc(100);
  std::memset(p, 1, 100);
}
USER_FN void UserLeakOnAThread() { std::thread(UserLeak).join(); }

// A leak of a block that the caches would reuse: the report must name this
// function, not the one that first made the block.
USER_FN void UserLeaksAReusedBlock() {
  void* p = concalloc::Alloc(100);
  std::memset(p, 1, 100);
}
USER_FN void UserLeakAfterWarmUp() {
  std::thread([] {
    WarmUpSomewhereElse();
    UserLeaksAReusedBlock();
  }).join();
}

// A block handed between threads without synchronisation, both writing.
std::atomic<unsigned char*> g_handoff{nullptr};
USER_FN void UserRaceWriter(unsigned char* p) { p[0] = 1; }
USER_FN void UserDataRace() {
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
  std::thread other([] {
    unsigned char* q;
    while ((q = g_handoff.load(std::memory_order_relaxed)) == nullptr) {
    }
    UserRaceWriter(q);
  });
  g_handoff.store(p, std::memory_order_relaxed);
  UserRaceWriter(p);
  other.join();
  concalloc::Free(p);
}

// Every correct use the tools must stay silent on.
USER_FN void UserCorrectUse() {
  for (std::size_t n : {0, 1, 21, 64, 500, 8176, 20000}) {
    auto* p = static_cast<unsigned char*>(concalloc::Alloc(n));
    std::memset(p, 7, n);
    concalloc::Free(p);
    auto* q = static_cast<unsigned char*>(concalloc::AllocAligned(n, 256));
    std::memset(q, 7, n);
    concalloc::Free(q);
  }
  std::atomic<unsigned char*> box{nullptr};
  std::thread producer([&] {
    auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
    std::memset(p, 3, 64);
    box.store(p, std::memory_order_release);
  });
  producer.join();
  unsigned char* p = box.load(std::memory_order_acquire);
  g_sink = p[63];
  concalloc::Free(p);
  concalloc::Trim();
}

}  // namespace

int main(int argc, char** argv) {
  struct Bug {
    const char* name;
    void (*run)();
  };
  const Bug bugs[] = {
      {"use_after_free", UserUseAfterFree}, {"overflow_by_one", UserOverflowByOne},
      {"header_write", UserWriteIntoHeader}, {"double_free", UserDoubleFree},
      {"free_foreign", UserFreeForeign},     {"read_uninitialised", UserReadUninitialised},
      {"free_malloced", UserFreesAMallocBlock},
      {"usable_size_after_free", UserAsksTheSizeOfAFreedBlock},
      {"leak", UserLeakOnAThread},           {"data_race", UserDataRace},
      {"leak_after_warm_up", UserLeakAfterWarmUp},
      {"none", UserCorrectUse},
  };
  for (const Bug& bug : bugs) {
    if (argc == 2 && std::strcmp(argv[1], bug.name) == 0) {
      bug.run();
      return 0;
    }
  }
  std::fprintf(stderr, "usage: %s <bug>\n", argv[0]);
  return 2;
}
