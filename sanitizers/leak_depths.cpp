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
// Exits 0; LeakSanitizer (or memcheck) must report the leak from
// UserDropsTheOnlyPointer.
#include <alloca.h>

#include <cstdlib>
#include <cstring>
#include <thread>

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

}  // namespace

int main(int argc, char** argv) {
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
